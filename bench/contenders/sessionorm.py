"""sessionorm: objects added, changed or deleted in a Session, written by ``commit()``.

The contender under test: what a Django developer writes with sessionorm, with the
default configuration (signals on, expire on commit, batch size the backend's).
"""

from __future__ import annotations

from bench import data, measure
from bench.contenders import Case, contender
from bench.models import Author, Book, Review, Tag
from bench.scenarios import expect
from sessionorm import Session, inspect

register = contender(
    "sessionorm",
    "sessionorm Session: add_all() / attribute changes / delete(), then commit()",
)


class SessionCase(Case):
    session: Session | None = None

    def teardown(self):
        if self.session is not None:
            self.session.close()


@register("insert_graph")
class InsertGraph(SessionCase):
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
        session = self.session = Session()
        session.add_all(authors)
        session.add_all(books)
        session.commit()
        self.books = books

    def check(self):
        super().check()
        expect(all(inspect(book).persistent for book in self.books), "a book is not persistent")
        for book in measure.sample(self.books):
            expect(book.author_id == book.author.pk, f"book {book.pk}: author_id not copied")
            expect(self.session.get(Book, book.pk) is book, f"book {book.pk} not in the map")


@register("update")
class Update(SessionCase):
    def setup(self, sizes):
        super().setup(sizes)
        self.session = Session()
        self.books = list(self.session.query(Book))

    def run(self):
        for book in self.books:
            book.pages = data.updated_pages(book.pk)
        self.session.commit()

    def check(self):
        super().check()
        for book in measure.sample(self.books):
            expect(book.pages == data.updated_pages(book.pk), f"book {book.pk}: pages")


@register("delete")
class Delete(SessionCase):
    def setup(self, sizes):
        super().setup(sizes)
        self.session = Session()
        self.books = list(self.session.query(Book))

    def run(self):
        session = self.session
        for book in self.books:
            session.delete(book)
        session.commit()

    def check(self):
        super().check()
        for book in self.books:
            state = inspect(book)
            expect(state.was_deleted and state.detached, f"book {book.pk} is {state}")
        expect(len(self.session.identity_map) == 0, "deleted books left in the map")


@register("mixed")
class Mixed(SessionCase):
    def setup(self, sizes):
        super().setup(sizes)
        session = self.session = Session()
        loaded = data.MIXED_LOADED
        self.authors = {a.pk: a for a in session.query(Author).filter(pk__lte=loaded["authors"])}
        self.books = list(session.query(Book).filter(pk__lte=loaded["books"]))
        self.reviews = {r.pk: r for r in session.query(Review).filter(pk__lte=loaded["reviews"])}
        self.tags = list(session.query(Tag).filter(pk__lte=loaded["tags"]))

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
            book.pages = data.mixed_new_pages(book.pk)
        for pk in data.MIXED_UPDATED["reviews"]:
            self.reviews[pk].stars = data.mixed_new_stars(pk)
        for pk in data.MIXED_DELETED["reviews"]:
            session.delete(self.reviews[pk])
        for tag in self.tags:
            session.delete(tag)
        session.commit()
        self.new = reviews

    def check(self):
        super().check()
        for review in self.new:
            expect(review.book_id == review.book.pk, f"review {review.pk}: book_id not copied")


class DirtyInLargeMap(SessionCase):
    size_key = "mapped"

    def setup(self, sizes):
        super().setup(sizes)
        self.session = Session()
        query = self.session.query(Book).filter(pk__lte=sizes[self.size_key]).order_by("pk")
        self.books = list(query)  # held: a clean object nobody holds leaves the map
        self.plan = measure.flush_plan(self.books, sizes["flushes"])

    def run(self):
        flush = self.session.flush
        for book, pages in self.plan:
            book.pages = pages
            flush()

    def check(self):
        expect(
            len(self.session.identity_map) == len(self.books),
            f"{len(self.session.identity_map)} objects mapped, expected {len(self.books)}",
        )
        self.session.commit()
        expected = {book.pk: pages for book, pages in self.plan}
        actual = dict(
            self.env.sql("SELECT id, pages FROM bench_book WHERE id = ANY(%s)", [list(expected)])
        )
        expect(actual == expected, "flushed pages differ from the changes")


register("dirty_in_large_map")(DirtyInLargeMap)


@register("dirty_in_large_map", variant="{small:,} mapped")
class DirtyInSmallMap(DirtyInLargeMap):
    size_key = "small"


@register("get_hit")
class GetHit(SessionCase):
    def setup(self, sizes):
        super().setup(sizes)
        self.session = Session()
        self.books = {book.pk: book for book in self.session.query(Book)}
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
class Load(SessionCase):
    def setup(self, sizes):
        super().setup(sizes)
        self.session = Session()

    def run(self):
        self.books = list(self.session.query(Book))

    def check(self):
        expect(len(self.books) == self.sizes["books"], f"{len(self.books)} books loaded")
        for book in measure.sample(self.books):
            expect(self.session.get(Book, book.pk) is book, f"book {book.pk} not in the map")
            expect(book.title == f"book {book.pk - 1}", f"book {book.pk}: title {book.title!r}")


@register("memory")
class Memory(SessionCase):
    def setup(self, sizes):
        super().setup(sizes)
        self.session = Session()

    def run(self):
        session = self.session
        self.metrics = measure.memory(
            lambda: list(session.query(Book)), Book, lambda: len(session.identity_map)
        )
        return self.metrics

    def check(self):
        expect(self.metrics["objects"] == self.sizes["books"], "wrong number of books loaded")
