"""Sample data for the demo, written in one unit of work.

Every object is built in memory with plain constructors, related objects are
assigned before any of them has a key, and one flush inserts publishers, authors,
books and reviews in dependency order. The data is the same on every run.
"""

import datetime
from dataclasses import dataclass

from demo.models import Author, Book, Publisher, Review

PUBLISHERS = ["Harbor Press", "Lantern House", "Northwind Books"]
AUTHORS = [
    "Ada Okafor",
    "Bruno Lindqvist",
    "Chiara Romano",
    "Dmitri Volkov",
    "Elena Márquez",
    "Farah Haddad",
    "Gustav Berg",
    "Hana Sato",
    "Idris Mensah",
    "Julia Novak",
]
SUBJECTS = ["Rivers", "Machines", "Letters", "Winter", "Cities"]
FORMS = ["A History of", "Notes on", "The Quiet", "Songs of", "Maps of"]
BOOKS_PER_AUTHOR = 5


@dataclass(frozen=True)
class Counts:
    publishers: int = 0
    authors: int = 0
    books: int = 0
    reviews: int = 0


def build():
    """Return the unsaved sample objects, related to one another, in a list."""
    publishers = [Publisher(name=name) for name in PUBLISHERS]
    objects = list(publishers)
    number = 0
    for a, name in enumerate(AUTHORS):
        # Every third author has no publisher: the nullable foreign key stays NULL.
        publisher = publishers[a % len(publishers)] if a % 3 != 2 else None
        author = Author(name=name, publisher=publisher)
        objects.append(author)
        for b in range(BOOKS_PER_AUTHOR):
            book = Book(
                title=f"{FORMS[b]} {SUBJECTS[(a + b) % len(SUBJECTS)]} ({name.split()[1]})",
                pages=120 + (number * 37) % 400,
                author=author,
                published=datetime.date(1990 + number % 30, 1 + number % 12, 1 + number % 28),
            )
            objects.append(book)
            if number % 5 != 0:
                objects.append(
                    Review(book=book, stars=1 + (number * 3) % 5, text=f"Review {number}.")
                )
            number += 1
    return objects


def create(session):
    """Add the sample objects to ``session`` unless authors already exist there;
    return what was added."""
    if session.query(Author).exists():
        return Counts()
    objects = build()
    session.add_all(objects)
    return Counts(
        **{
            name: sum(isinstance(obj, model) for obj in objects)
            for name, model in [
                ("publishers", Publisher),
                ("authors", Author),
                ("books", Book),
                ("reviews", Review),
            ]
        }
    )
