"""The benchmark schema: Django builds these tables; ``sa_models`` maps the same ones.

Author -< Book -< Review and Book -< Tag: every foreign key is ``CASCADE``, as the
common Django schema has it, so deleting books makes every contender that keeps
Django's (or SQLAlchemy's) cascade semantics look for their reviews and tags.
"""

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)
    email = models.CharField(max_length=200)


class Book(models.Model):
    title = models.CharField(max_length=200)
    pages = models.IntegerField()
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    published = models.DateField()


class Review(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="reviews")
    stars = models.IntegerField()


class Tag(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=50)
