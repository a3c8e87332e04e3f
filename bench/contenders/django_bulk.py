"""Django's bulk helpers, used by hand: ``bulk_create`` (keys returned on PostgreSQL,
foreign keys assigned from them), ``bulk_update``, ``QuerySet.delete()``.

What a Django developer writes when ``save()`` is too slow; no signals, no identity map,
and the developer orders the statements and copies the keys.
"""

from __future__ import annotations

from django.db import transaction

from bench import data, measure
from bench.contenders import Case, contender

# The plain twins (bench/models.py): Django as it is without sessionorm's hooks.
from bench.models import PlainAuthor as Author
from bench.models import PlainBook as Book
from bench.models import PlainReview as Review
from bench.models import PlainTag as Tag
from bench.scenarios import expect

register = contender(
    "django_bulk", "Django: bulk_create (keys returned) / bulk_update / QuerySet.delete()"
)


@register("insert_graph")
class InsertGraph(Case):
    def setup(self, sizes):
        super().setup(sizes)
        self.author_values = data.authors(sizes["authors"])
        self.book_values = data.books(sizes["books"], sizes["authors"])

    def run(self):
        with transaction.atomic():
            authors = Author.objects.bulk_create(
                [Author(name=name, email=email) for name, email in self.author_values]
            )
            self.books = Book.objects.bulk_create(
                [
                    Book(title=title, pages=pages, published=published, author=authors[author])
                    for title, pages, published, author in self.book_values
                ]
            )

    def check(self):
        super().check()
        for book in measure.sample(self.books):
            expect(book.author_id == book.author.pk, f"book {book.pk}: author_id not copied")


@register("update", slow=True)
class Update(Case):
    def setup(self, sizes):
        super().setup(sizes)
        self.books = list(Book.objects.all())

    def run(self):
        for book in self.books:
            book.pages = data.updated_pages(book.pk)
        Book.objects.bulk_update(self.books, ["pages"])  # one transaction of its own


@register("delete")
class Delete(Case):
    def setup(self, sizes):
        super().setup(sizes)
        self.books = list(Book.objects.all())

    def run(self):
        Book.objects.filter(pk__in=[book.pk for book in self.books]).delete()


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
            authors = Author.objects.bulk_create(
                [Author(name=name, email=email) for name, email in data.mixed_new_authors()]
            )
            books = Book.objects.bulk_create(
                [
                    Book(
                        title=title,
                        pages=pages,
                        published=published,
                        author=authors[new] if new is not None else self.authors[old],
                    )
                    for title, pages, published, new, old in data.mixed_new_books()
                ]
            )
            Review.objects.bulk_create(
                [Review(book=books[b], stars=stars) for b, stars in data.mixed_new_reviews()]
            )
            Tag.objects.bulk_create(
                [Tag(book=books[b], name=name) for b, name in data.mixed_new_tags()]
            )
            changed_authors = []
            for pk in data.MIXED_UPDATED["authors"]:
                author = self.authors[pk]
                author.email = data.mixed_new_email(pk)
                changed_authors.append(author)
            Author.objects.bulk_update(changed_authors, ["email"])
            for book in self.books:
                book.pages = data.mixed_new_pages(book.pk)
            Book.objects.bulk_update(self.books, ["pages"])
            changed_reviews = []
            for pk in data.MIXED_UPDATED["reviews"]:
                review = self.reviews[pk]
                review.stars = data.mixed_new_stars(pk)
                changed_reviews.append(review)
            Review.objects.bulk_update(changed_reviews, ["stars"])
            Review.objects.filter(pk__in=list(data.MIXED_DELETED["reviews"])).delete()
            Tag.objects.filter(pk__in=[tag.pk for tag in self.tags]).delete()
