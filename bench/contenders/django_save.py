"""Django without helpers: ``save()`` / ``delete()`` per object inside ``atomic()``.

What most Django code does; one statement (or more) per object.
"""

from __future__ import annotations

from django.db import transaction

from bench import data
from bench.contenders import Case, contender

# The plain twins (bench/models.py): Django as it is without sessionorm's hooks.
from bench.models import PlainAuthor as Author
from bench.models import PlainBook as Book
from bench.models import PlainReview as Review
from bench.models import PlainTag as Tag

register = contender("django_save", "Django: save() / delete() per object in atomic()")


@register("insert_graph", slow=True)
class InsertGraph(Case):
    def setup(self, sizes):
        super().setup(sizes)
        self.author_values = data.authors(sizes["authors"])
        self.book_values = data.books(sizes["books"], sizes["authors"])

    def run(self):
        with transaction.atomic():
            authors = []
            for name, email in self.author_values:
                author = Author(name=name, email=email)
                author.save()
                authors.append(author)
            for title, pages, published, author in self.book_values:
                Book(title=title, pages=pages, published=published, author=authors[author]).save()


@register("update", slow=True)
class Update(Case):
    def setup(self, sizes):
        super().setup(sizes)
        self.books = list(Book.objects.all())

    def run(self):
        with transaction.atomic():
            for book in self.books:
                book.pages = data.updated_pages(book.pk)
                book.save()


@register("delete", slow=True)
class Delete(Case):
    def setup(self, sizes):
        super().setup(sizes)
        self.books = list(Book.objects.all())

    def run(self):
        with transaction.atomic():
            for book in self.books:
                book.delete()


@register("mixed")
class Mixed(Case):
    def setup(self, sizes):
        super().setup(sizes)
        loaded = data.MIXED_LOADED
        self.authors = Author.objects.in_bulk(list(range(1, loaded["authors"] + 1)))
        self.books = list(Book.objects.filter(pk__lte=loaded["books"]))
        self.reviews = Review.objects.in_bulk(list(range(1, loaded["reviews"] + 1)))
        self.tags = list(Tag.objects.filter(pk__lte=loaded["tags"]))

    def run(self):
        with transaction.atomic():
            authors = []
            for name, email in data.mixed_new_authors():
                author = Author(name=name, email=email)
                author.save()
                authors.append(author)
            books = []
            for title, pages, published, new, old in data.mixed_new_books():
                author = authors[new] if new is not None else self.authors[old]
                book = Book(title=title, pages=pages, published=published, author=author)
                book.save()
                books.append(book)
            for b, stars in data.mixed_new_reviews():
                Review(book=books[b], stars=stars).save()
            for b, name in data.mixed_new_tags():
                Tag(book=books[b], name=name).save()
            for pk in data.MIXED_UPDATED["authors"]:
                author = self.authors[pk]
                author.email = data.mixed_new_email(pk)
                author.save()
            for book in self.books:
                book.pages = data.mixed_new_pages(book.pk)
                book.save()
            for pk in data.MIXED_UPDATED["reviews"]:
                review = self.reviews[pk]
                review.stars = data.mixed_new_stars(pk)
                review.save()
            for pk in data.MIXED_DELETED["reviews"]:
                self.reviews[pk].delete()
            for tag in self.tags:
                tag.delete()
