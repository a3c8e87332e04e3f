"""SQLAlchemy 2.x ORM Session on the same tables (``bench.sa_models``), psycopg2.

Its unit of work, as the documentation shows it: ``add_all`` + ``commit``, changed
attributes + ``commit``, ``delete`` + ``commit``; default Session options.
"""

from __future__ import annotations

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import Session

from bench import data, measure
from bench.contenders import Case, contender
from bench.sa_models import Author, Book, Review, Tag
from bench.scenarios import expect

register = contender(
    "sqlalchemy", "SQLAlchemy ORM Session: add_all() / changed attributes / delete(), commit()"
)


class SACase(Case):
    session: Session | None = None

    def open(self) -> Session:
        self.session = Session(self.env.engine)
        return self.session

    def teardown(self):
        if self.session is not None:
            self.session.close()


@register("insert_graph")
class InsertGraph(SACase):
    def setup(self, sizes):
        super().setup(sizes)
        self.author_values = data.authors(sizes["authors"])
        self.book_values = data.books(sizes["books"], sizes["authors"])

    def run(self):
        authors = [Author(name=name, email=email) for name, email in self.author_values]
        books = [
            Book(title=title, pages=pages, published=published, author=authors[author])
            for title, pages, published, author in self.book_values
        ]
        session = self.open()
        session.add_all(authors)
        session.add_all(books)
        session.commit()
        self.books = books

    def check(self):
        super().check()
        expect(all(sa_inspect(b).persistent for b in self.books), "a book is not persistent")
        for book in measure.sample(self.books):
            expect(book.author_id == book.author.id, f"book {book.id}: author_id not copied")


@register("update")
class Update(SACase):
    def setup(self, sizes):
        super().setup(sizes)
        self.books = self.open().scalars(select(Book)).all()

    def run(self):
        for book in self.books:
            book.pages = data.updated_pages(book.id)
        self.session.commit()


@register("delete", slow=True)  # loads reviews and tags book by book (cascade)
class Delete(SACase):
    def setup(self, sizes):
        super().setup(sizes)
        self.books = self.open().scalars(select(Book)).all()

    def run(self):
        session = self.session
        for book in self.books:
            session.delete(book)
        session.commit()

    def check(self):
        super().check()
        for book in self.books:
            state = sa_inspect(book)
            expect(state.was_deleted and state.detached, f"book {book.id} is not deleted")


@register("mixed")
class Mixed(SACase):
    def setup(self, sizes):
        super().setup(sizes)
        session = self.open()
        loaded = data.MIXED_LOADED
        self.authors = {
            a.id: a for a in session.scalars(select(Author).where(Author.id <= loaded["authors"]))
        }
        self.books = session.scalars(select(Book).where(Book.id <= loaded["books"])).all()
        self.reviews = {
            r.id: r for r in session.scalars(select(Review).where(Review.id <= loaded["reviews"]))
        }
        self.tags = session.scalars(select(Tag).where(Tag.id <= loaded["tags"])).all()

    def run(self):
        session = self.session
        authors = [Author(name=name, email=email) for name, email in data.mixed_new_authors()]
        books = [
            Book(
                title=title,
                pages=pages,
                published=published,
                author=authors[new] if new is not None else self.authors[old],
            )
            for title, pages, published, new, old in data.mixed_new_books()
        ]
        reviews = [Review(book=books[b], stars=stars) for b, stars in data.mixed_new_reviews()]
        tags = [Tag(book=books[b], name=name) for b, name in data.mixed_new_tags()]
        session.add_all([*authors, *books, *reviews, *tags])
        for pk in data.MIXED_UPDATED["authors"]:
            self.authors[pk].email = data.mixed_new_email(pk)
        for book in self.books:
            book.pages = data.mixed_new_pages(book.id)
        for pk in data.MIXED_UPDATED["reviews"]:
            self.reviews[pk].stars = data.mixed_new_stars(pk)
        for pk in data.MIXED_DELETED["reviews"]:
            session.delete(self.reviews[pk])
        for tag in self.tags:
            session.delete(tag)
        session.commit()


class DirtyInLargeMap(SACase):
    size_key = "mapped"

    def setup(self, sizes):
        super().setup(sizes)
        query = select(Book).where(Book.id <= sizes[self.size_key]).order_by(Book.id)
        self.books = self.open().scalars(query).all()  # held, as for sessionorm
        self.plan = measure.flush_plan(self.books, sizes["flushes"])

    def run(self):
        flush = self.session.flush
        for book, pages in self.plan:
            book.pages = pages
            flush()

    def check(self):
        expect(len(self.session.identity_map) == len(self.books), "objects left the map")
        expected = {book.id: pages for book, pages in self.plan}
        self.session.commit()
        actual = dict(
            self.env.sql("SELECT id, pages FROM bench_book WHERE id = ANY(%s)", [list(expected)])
        )
        expect(actual == expected, "flushed pages differ from the changes")


register("dirty_in_large_map")(DirtyInLargeMap)


@register("dirty_in_large_map", variant="{small:,} mapped")
class DirtyInSmallMap(DirtyInLargeMap):
    size_key = "small"


@register("get_hit")
class GetHit(SACase):
    def setup(self, sizes):
        super().setup(sizes)
        self.books = {book.id: book for book in self.open().scalars(select(Book))}
        keys = list(self.books)
        self.keys = [keys[i % len(keys)] for i in range(sizes["calls"])]

    def run(self):
        get = self.session.get
        for pk in self.keys:
            get(Book, pk)

    def check(self):
        with self.env.counting() as counter:
            for pk in self.keys:
                expect(self.session.get(Book, pk) is self.books[pk], f"get(Book, {pk})")
        expect(counter.count == 0, f"identity-map hits sent {counter.count} statements")


@register("load")
class Load(SACase):
    def setup(self, sizes):
        super().setup(sizes)
        self.open()

    def run(self):
        self.books = self.session.scalars(select(Book)).all()

    def check(self):
        expect(len(self.books) == self.sizes["books"], f"{len(self.books)} books loaded")
        for book in measure.sample(self.books):
            expect(book.title == f"book {book.id - 1}", f"book {book.id}: title {book.title!r}")


@register("memory")
class Memory(SACase):
    def setup(self, sizes):
        super().setup(sizes)
        self.open()

    def run(self):
        session = self.session
        self.metrics = measure.memory(
            lambda: session.scalars(select(Book)).all(), Book, lambda: len(session.identity_map)
        )
        return self.metrics

    def check(self):
        expect(self.metrics["objects"] == self.sizes["books"], "wrong number of books loaded")
