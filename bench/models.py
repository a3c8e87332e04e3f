"""The benchmark schema: Django builds these tables; ``sa_models`` maps the same ones.

Author -< Book -< Review and Book -< Tag: every foreign key is ``CASCADE``, as the
common Django schema has it, so deleting books makes every contender that keeps
Django's (or SQLAlchemy's) cascade semantics look for their reviews and tags.

Each model has an unmanaged twin on the same table (``PlainBook`` on ``bench_book``)
for the plain-Django contenders. sessionorm instruments a model class the first time
one of its objects meets a session (a ``__setattr__`` hook, its own field
descriptors), and from then on plain Django code on that class pays for the hooks
too. The Django baselines must be Django as it is without sessionorm, so they use
classes no session ever touches; the ``load`` scenario measures what the hooks cost
plain code separately (``django (instrumented)``).
"""

from django.db import models


class AuthorFields(models.Model):
    name = models.CharField(max_length=100)
    email = models.CharField(max_length=200)

    class Meta:
        abstract = True


class BookFields(models.Model):
    title = models.CharField(max_length=200)
    pages = models.IntegerField()
    published = models.DateField()

    class Meta:
        abstract = True


class ReviewFields(models.Model):
    stars = models.IntegerField()

    class Meta:
        abstract = True


class TagFields(models.Model):
    name = models.CharField(max_length=50)

    class Meta:
        abstract = True


# -- sessionorm's models (they create the tables) ----------------------------------------


class Author(AuthorFields):
    pass


class Book(BookFields):
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")


class Review(ReviewFields):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="reviews")


class Tag(TagFields):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="tags")


# -- the plain-Django twins: same tables, never in a session -----------------------------


class PlainAuthor(AuthorFields):
    class Meta:
        managed = False
        db_table = "bench_author"


class PlainBook(BookFields):
    author = models.ForeignKey(PlainAuthor, on_delete=models.CASCADE, related_name="books")

    class Meta:
        managed = False
        db_table = "bench_book"


class PlainReview(ReviewFields):
    book = models.ForeignKey(PlainBook, on_delete=models.CASCADE, related_name="reviews")

    class Meta:
        managed = False
        db_table = "bench_review"


class PlainTag(TagFields):
    book = models.ForeignKey(PlainBook, on_delete=models.CASCADE, related_name="tags")

    class Meta:
        managed = False
        db_table = "bench_tag"
