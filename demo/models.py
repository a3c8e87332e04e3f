"""The demo's models: plain Django models, with no trace of sessionorm.

They exercise what a flush must order: ``Author`` → ``Publisher`` (nullable,
SET_NULL), ``Book`` → ``Author`` and ``Review`` → ``Book`` (CASCADE), and
``Book.updated_at`` (``auto_now``, set by the field's ``pre_save`` at flush).
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Publisher(models.Model):
    name = models.CharField(max_length=200, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Author(models.Model):
    name = models.CharField(max_length=200)
    publisher = models.ForeignKey(
        Publisher, null=True, blank=True, on_delete=models.SET_NULL, related_name="authors"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=300)
    pages = models.PositiveIntegerField(default=0)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    published = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]

    def __str__(self):
        return self.title


class Review(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="reviews")
    stars = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    text = models.TextField(blank=True)

    def __str__(self):
        return f"{self.stars}/5 for book {self.book_id}"
