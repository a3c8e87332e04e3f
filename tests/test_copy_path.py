"""Large INSERT batches take the COPY path on PostgreSQL, with every guarantee kept."""

import datetime
import decimal
import uuid

import pytest
from django.db import IntegrityError, connection
from django.db.models import Value
from django.db.models.functions import Upper
from django.test.utils import CaptureQueriesContext

from sessionorm import Session, inspect
from tests.testapp.models import Author, Book, Place, Restaurant, Specimen, Tag

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db]


@pytest.fixture
def copy_from_three(settings):
    settings.SESSIONORM = {"COPY_THRESHOLD": 3}


def statements(queries):
    return [q["sql"].split(" (")[0] for q in queries.captured_queries]


def test_a_large_graph_is_copied_with_keys_reserved_first(copy_from_three, session):
    authors = [Author(name=f"author\t{i}\n") for i in range(3)]
    books = [Book(title=f"book {i}", pages=i, author=authors[i % 3]) for i in range(9)]
    session.add_all(books)
    with CaptureQueriesContext(connection) as queries:
        session.flush()
    sql = statements(queries)
    assert sql.count('COPY "testapp_author"') == 1 and sql.count('COPY "testapp_book"') == 1
    assert not [s for s in sql if s.startswith("INSERT")]
    assert all(inspect(b).persistent and b.author_id == b.author.pk for b in books)
    assert session.get(Book, books[4].pk) is books[4]
    rows = dict(Book.objects.values_list("title", "author__name"))
    assert rows["book 4"] == "author\t1\n"  # tabs and newlines survive COPY's escaping
    assert all(b.created is not None and b.updated is not None for b in books)  # pre_save ran


def test_below_the_threshold_inserts_as_usual(copy_from_three, session):
    session.add_all([Author(name="a"), Author(name="b")])
    with CaptureQueriesContext(connection) as queries:
        session.flush()
    assert [s for s in statements(queries) if s.startswith(("INSERT", "COPY"))] == [
        'INSERT INTO "testapp_author"'
    ]


def test_every_common_type_survives_copy(copy_from_three, session):
    values = dict(
        price=decimal.Decimal("12.50"),
        born=datetime.date(2001, 2, 3),
        data={"k": ["v", 1, None], "q": 'quote"s and \\ backslash'},
        ratio=0.25,
        span=datetime.timedelta(days=2, seconds=7, microseconds=9),
        blob=b"\x00\x01\\\xff",
        note="line\nbreak\ttab\\slash",
        flag=True,
        uid=uuid.UUID(int=7),
    )
    specimens = [Specimen(**values) for _ in range(3)]
    nulls = [Specimen() for _ in range(3)]
    session.add_all(specimens + nulls)
    session.flush()
    for spec in specimens:
        row = Specimen.objects.get(pk=spec.pk)
        for name, value in values.items():
            got = getattr(row, name)
            assert (bytes(got) if name == "blob" else got) == value, name
    assert Specimen.objects.filter(pk__in=[s.pk for s in nulls], note__isnull=True).count() == 3


def test_a_value_copy_cannot_carry_falls_back_to_insert(copy_from_three, session):
    specimens = [Specimen(ip="10.0.0.1") for _ in range(3)]  # an ip address: not copyable
    session.add_all(specimens)
    with CaptureQueriesContext(connection) as queries:
        session.flush()
    assert 'INSERT INTO "testapp_specimen"' in statements(queries)
    assert Specimen.objects.filter(ip="10.0.0.1").count() == 3


def test_sql_expressions_fall_back_to_insert(copy_from_three, session):
    author = Author.objects.create(name="a")
    books = [Book(title=Upper(Value("shout")), author_id=author.pk) for _ in range(3)]
    session.add_all(books)
    with CaptureQueriesContext(connection) as queries:
        session.flush()
    assert 'INSERT INTO "testapp_book"' in statements(queries)
    assert set(Book.objects.values_list("title", flat=True)) == {"SHOUT"}


def test_uuid_and_inherited_tables_are_copied(copy_from_three, session):
    tags = [Tag(name=f"t{i}") for i in range(3)]
    restaurants = [Restaurant(name=f"r{i}", serves_pizza=True) for i in range(3)]
    session.add_all(tags + restaurants)
    with CaptureQueriesContext(connection) as queries:
        session.flush()
    sql = statements(queries)
    assert {'COPY "testapp_tag"', 'COPY "testapp_place"', 'COPY "testapp_restaurant"'} <= set(sql)
    assert Restaurant.objects.filter(serves_pizza=True).count() == 3
    assert Place.objects.count() == 3
    assert {t.pk for t in tags} == set(Tag.objects.values_list("pk", flat=True))


def test_a_failed_copy_leaves_the_objects_as_before(copy_from_three):
    session = Session()
    authors = [Author(name=f"a{i}") for i in range(3)]
    books = [Book(title=None, author=authors[0]) for _ in range(3)]  # NOT NULL: COPY fails
    session.add_all(books + authors)
    with pytest.raises(IntegrityError):
        session.flush()
    assert all(a.pk is None and inspect(a).pending for a in authors)
    assert all(b.pk is None and b.author_id is None for b in books)
    # auto_now_add / auto_now values the COPY's pre_save wrote are undone too
    assert all(b.created is None and b.updated is None for b in books)
    session.rollback()
    assert not Author.objects.exists()
    session.close()
