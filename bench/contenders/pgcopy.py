"""COPY, the physical lower bound: keys reserved with ``nextval`` over
``generate_series``, rows streamed with ``COPY ... FROM STDIN`` (authors, then books
with the reserved author keys), one transaction.
"""

from __future__ import annotations

import io

from bench import data
from bench.contenders import Case, contender
from bench.database import copy_line

register = contender("copy", "COPY FROM STDIN, keys reserved with nextval over generate_series")


@register("insert_graph")
class InsertGraph(Case):
    def setup(self, sizes):
        super().setup(sizes)
        self.author_values = data.authors(sizes["authors"])
        self.book_values = data.books(sizes["books"], sizes["authors"])
        self.sequences = dict(
            self.env.sql(
                "SELECT t, pg_get_serial_sequence(t, 'id') FROM unnest(%s::text[]) AS t",
                [["bench_author", "bench_book"]],
            )
        )

    def run(self):
        conn = self.env.raw
        with conn.cursor() as cursor:
            author_ids = _reserve(cursor, self.sequences["bench_author"], len(self.author_values))
            _copy(
                cursor,
                "bench_author (id, name, email)",
                (
                    (pk, name, email)
                    for pk, (name, email) in zip(author_ids, self.author_values, strict=True)
                ),
            )
            book_ids = _reserve(cursor, self.sequences["bench_book"], len(self.book_values))
            _copy(
                cursor,
                "bench_book (id, title, pages, published, author_id)",
                (
                    (pk, title, pages, published, author_ids[author])
                    for pk, (title, pages, published, author) in zip(
                        book_ids, self.book_values, strict=True
                    )
                ),
            )
        conn.commit()

    def teardown(self):
        self.env.raw.rollback()


def _reserve(cursor, sequence: str, count: int) -> list[int]:
    cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [sequence, count])
    return [row[0] for row in cursor.fetchall()]


def _copy(cursor, target: str, rows) -> None:
    buffer = io.StringIO()
    buffer.writelines(copy_line(row) for row in rows)
    buffer.seek(0)
    cursor.copy_expert(f"COPY {target} FROM STDIN", buffer)
