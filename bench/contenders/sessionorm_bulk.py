"""sessionorm's bulk API (SQLAlchemy 1.3's): ``bulk_insert_mappings`` and
``bulk_update_mappings``, and a session query's ``delete()``.

The documented fast path that skips the unit of work: no identity map for the
written rows, no cascades, no keys copied from related objects (the authors' keys
come back in their mappings and are put into the books' by hand), no signals.
"""

from __future__ import annotations

from bench import data
from bench.contenders import Case, contender
from bench.models import Author, Book
from bench.scenarios import expect
from sessionorm import Session

if not hasattr(Session, "bulk_insert_mappings"):  # a sessionorm from before the bulk API
    raise ModuleNotFoundError("sessionorm's bulk API", name="sessionorm.bulk")

register = contender(
    "sessionorm_bulk",
    "sessionorm bulk API: bulk_insert_mappings / bulk_update_mappings / query().delete()",
)


class BulkCase(Case):
    session: Session | None = None

    def teardown(self):
        if self.session is not None:
            self.session.close()


@register("insert_graph")
class InsertGraph(BulkCase):
    def setup(self, sizes):
        super().setup(sizes)
        self.author_values = data.authors(sizes["authors"])
        self.book_values = data.books(sizes["books"], sizes["authors"])

    def run(self):
        session = self.session = Session()
        authors = [{"name": name, "email": email} for name, email in self.author_values]
        session.bulk_insert_mappings(Author, authors, return_defaults=True)
        session.bulk_insert_mappings(
            Book,
            [
                {
                    "title": title,
                    "pages": pages,
                    "published": published,
                    "author_id": authors[author]["id"],
                }
                for title, pages, published, author in self.book_values
            ],
        )
        session.commit()


@register("update")
class Update(BulkCase):
    def setup(self, sizes):
        super().setup(sizes)
        self.session = Session()
        self.books = list(self.session.query(Book))

    def run(self):
        self.session.bulk_update_mappings(
            Book, [{"id": book.pk, "pages": data.updated_pages(book.pk)} for book in self.books]
        )
        self.session.commit()


@register("delete")
class Delete(BulkCase):
    def setup(self, sizes):
        super().setup(sizes)
        self.session = Session()
        self.books = list(self.session.query(Book))

    def run(self):
        self.session.query(Book).filter(pk__in=[book.pk for book in self.books]).delete()
        self.session.commit()

    def check(self):
        super().check()
        expect(len(self.session.identity_map) == 0, "deleted books left in the map")
