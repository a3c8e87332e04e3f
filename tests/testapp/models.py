"""Models the test suite needs: one per shape the flush must handle."""

import uuid

from django.db import models


class Publisher(models.Model):
    name = models.CharField(max_length=100)


class Author(models.Model):
    name = models.CharField(max_length=100)
    publisher = models.ForeignKey(Publisher, null=True, blank=True, on_delete=models.SET_NULL)

    def __str__(self):
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=200)
    pages = models.IntegerField(default=0)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)


class BookProxy(Book):
    class Meta:
        proxy = True

    def shout(self):
        return self.title.upper()


class Review(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="reviews")
    stars = models.IntegerField(default=3)


class Loan(models.Model):
    book = models.ForeignKey(Book, on_delete=models.PROTECT)


class Category(models.Model):
    """Self-referencing: rows must be inserted parent first."""

    name = models.CharField(max_length=50)
    parent = models.ForeignKey("self", null=True, on_delete=models.CASCADE, related_name="children")


class Department(models.Model):
    """With Employee, a cycle between models broken through the nullable head."""

    name = models.CharField(max_length=50)
    head = models.ForeignKey("Employee", null=True, on_delete=models.SET_NULL, related_name="+")


class Employee(models.Model):
    name = models.CharField(max_length=50)
    department = models.ForeignKey(Department, on_delete=models.CASCADE)


class Egg(models.Model):
    """With Hen, a cycle that cannot be broken: both foreign keys are NOT NULL."""

    hen = models.ForeignKey("Hen", on_delete=models.CASCADE, related_name="+")


class Hen(models.Model):
    egg = models.ForeignKey(Egg, on_delete=models.CASCADE, related_name="+")


class Place(models.Model):
    name = models.CharField(max_length=50)


class Restaurant(Place):
    serves_pizza = models.BooleanField(default=False)


class Tag(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=50)


class Country(models.Model):
    code = models.CharField(max_length=2, primary_key=True)
    name = models.CharField(max_length=50)


class City(models.Model):
    name = models.CharField(max_length=50)
    country = models.ForeignKey(Country, on_delete=models.CASCADE)


class Enrollment(models.Model):
    pk = models.CompositePrimaryKey("student_id", "course_id")
    student_id = models.IntegerField()
    course_id = models.IntegerField()
    grade = models.CharField(max_length=2, default="")


class Document(models.Model):
    title = models.CharField(max_length=100)
    version = models.PositiveIntegerField(default=1)

    class SessionORM:
        version_field = "version"


class Specimen(models.Model):
    """One column of each common type: batched UPDATEs must carry every one."""

    price = models.DecimalField(max_digits=8, decimal_places=2, null=True)
    born = models.DateField(null=True)
    data = models.JSONField(null=True)
    ratio = models.FloatField(null=True)
    span = models.DurationField(null=True)
    blob = models.BinaryField(null=True)
    ip = models.GenericIPAddressField(null=True)
    note = models.TextField(null=True)
    flag = models.BooleanField(null=True)
    uid = models.UUIDField(null=True)
