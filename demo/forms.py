"""Forms of the demo views; they validate input only and never touch the database,
so every object the views create goes through ``request.dbsession``."""

from django import forms
from django.core.exceptions import ValidationError


class AuthorWithBooksForm(forms.Form):
    """An author and their books, one book per line as ``Title | pages``."""

    name = forms.CharField(max_length=200)
    publisher = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    books = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="One book per line: “Title | pages”; pages are optional.",
    )

    def __init__(self, *args, publishers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["publisher"].choices = [("", "— none —")] + [(p.pk, p.name) for p in publishers]

    def clean_books(self):
        """Return ``[(title, pages), ...]``; pages default to 0."""
        parsed = []
        for number, line in enumerate(self.cleaned_data["books"].splitlines(), start=1):
            title, _, pages = (part.strip() for part in line.partition("|"))
            if not title:
                continue
            if pages and not pages.isdigit():
                raise ValidationError(
                    f"Line {number}: pages must be a whole number, got “{pages}”."
                )
            parsed.append((title[:300], int(pages or 0)))
        if not parsed:
            raise ValidationError("Give at least one book title.")
        return parsed
