"""The flush against a real database: what it writes, in which statements, and what
the session's objects look like afterwards.

Every test checks three things where they apply: the statements sent (captured with
Django's ``CaptureQueriesContext``), the rows as plain Django querysets read them back,
and the objects' identity and lifecycle state (``sessionorm.inspect``).
"""

import datetime
import re
import uuid
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection
from django.db.models import F, ProtectedError, signals
from django.db.models.functions import Upper
from django.test.utils import CaptureQueriesContext

from sessionorm import Session, inspect
from sessionorm.exc import FlushError, InvalidRequestError, PendingRollbackError, StaleDataError
from tests.testapp.models import (
    Author,
    Book,
    BookProxy,
    Category,
    City,
    Country,
    Department,
    Document,
    Egg,
    Employee,
    Enrollment,
    Hen,
    Loan,
    Place,
    Publisher,
    Restaurant,
    Review,
    Specimen,
    Tag,
)

# -- helpers -------------------------------------------------------------------------

_INSERT = re.compile(r'^\s*INSERT INTO\s+"(\w+)"', re.I)
_UPDATE = re.compile(r'\bUPDATE\s+"(\w+)"\s+SET\s+(.+?)\s+(?:FROM|WHERE)\b', re.I | re.S)
_DELETE = re.compile(r'^\s*DELETE FROM\s+"(\w+)"', re.I)


class Statement:
    """One captured write: ``kind`` (INSERT/UPDATE/DELETE), ``table``, ``columns`` set."""

    def __init__(self, kind, table, sql, columns=frozenset()):
        self.kind, self.table, self.sql, self.columns = kind, table, sql, columns

    def __repr__(self):
        cols = f" SET {sorted(self.columns)}" if self.columns else ""
        return f"{self.kind} {self.table}{cols}"


def writes(captured) -> list[Statement]:
    """The INSERT, UPDATE and DELETE statements among the captured queries, in order."""
    out = []
    for query in captured.captured_queries:
        sql = query["sql"]
        if m := _INSERT.match(sql):
            out.append(Statement("INSERT", m[1], sql))
        elif m := _DELETE.match(sql):
            out.append(Statement("DELETE", m[1], sql))
        elif m := _UPDATE.search(sql):
            columns = frozenset(re.findall(r'"(\w+)"\s*=', m[2]))
            out.append(Statement("UPDATE", m[1], sql, columns))
    return out


def summary(captured) -> list[str]:
    return [repr(s) for s in writes(captured)]


def capture():
    return CaptureQueriesContext(connection)


@pytest.fixture
def signal_log():
    """Every model signal Django sends during the test, as ``(name, instance, extra)``."""
    log = []

    def receiver_for(name):
        def receiver(sender, instance, **kwargs):
            extra = kwargs.get("created") if name == "post_save" else None
            log.append((name, instance, extra))

        return receiver

    receivers = {
        signal: receiver_for(name)
        for signal, name in (
            (signals.pre_save, "pre_save"),
            (signals.post_save, "post_save"),
            (signals.pre_delete, "pre_delete"),
            (signals.post_delete, "post_delete"),
        )
    }
    for signal, fn in receivers.items():
        signal.connect(fn, weak=False)
    yield log
    for signal, fn in receivers.items():
        signal.disconnect(fn)


def load(session, model, **filters):
    """The session's objects of ``model`` matching ``filters``, ordered by pk."""
    return list(session.query(model).filter(**filters).order_by("pk"))


# -- inserts ---------------------------------------------------------------------------


@pytest.mark.django_db
class TestBatchedInserts:
    def test_new_parents_reached_through_children_are_inserted_in_two_statements(self, session):
        authors = [Author(name=f"author {i}") for i in range(20)]
        books = [Book(title=f"book {i}", author=authors[i % 20]) for i in range(200)]
        session.add_all(books)

        with capture() as captured:
            session.flush()

        tables = [s.table for s in writes(captured)]
        assert len(tables) <= 4 and tables == sorted(tables)  # authors, then books
        # One statement per model, unless the backend caps parameters per statement
        # (SQLite before Django 6.1: 999, so 199 five-column book rows each).
        fields = [f for f in Book._meta.concrete_fields if not f.primary_key]
        per_statement = connection.ops.bulk_batch_size(fields, books)
        book_statements = -(-200 // per_statement)
        assert tables == ["testapp_author"] + ["testapp_book"] * book_statements
        if connection.vendor == "postgresql":
            assert book_statements == 1
        assert all(inspect(a).persistent and a.pk is not None for a in authors)
        assert all(inspect(b).persistent and b.author_id == b.author.pk for b in books)
        rows = dict(Book.objects.values_list("title", "author__name"))
        assert len(rows) == 200
        assert all(rows[f"book {i}"] == f"author {i % 20}" for i in range(200))

    def test_inserted_objects_are_the_identity_map_objects(self, session):
        author = Author(name="Le Guin")
        book = Book(title="Lathe", author=author)
        session.add(book)
        session.flush()

        with capture() as captured:
            assert session.get(Author, author.pk) is author
            assert session.get(Book, book.pk) is book
        assert len(captured) == 0
        assert session.query(Book).get(pk=book.pk).author is author
        assert inspect(author).key == (Author, author.pk, "default")

    def test_generated_values_are_written_back(self, session):
        author = Author(name="Le Guin")
        book = Book(title="Lathe", author=author)
        session.add(book)
        session.flush()

        row = Book.objects.get(pk=book.pk)
        assert book.created == row.created and book.created is not None
        assert book.updated == row.updated
        assert book.pages == row.pages == 0
        assert book._state.adding is False and book._state.db == "default"

    def test_batch_size_setting_splits_statements(self, session, settings):
        settings.SESSIONORM = {"BATCH_SIZE": 50}
        author = Author(name="prolific")
        session.add_all([Book(title=f"b{i}", author=author) for i in range(120)])

        with capture() as captured:
            session.flush()

        assert summary(captured) == ["INSERT testapp_author"] + ["INSERT testapp_book"] * 3
        assert Book.objects.filter(author_id=author.pk).count() == 120

    def test_flush_with_nothing_to_do_sends_nothing(self, session):
        author = Author(name="loaded")
        session.add(author)
        session.flush()

        with capture() as captured:
            session.flush()

        assert len(captured) == 0

    def test_new_child_of_a_loaded_parent(self, session):
        Author.objects.create(name="existing")
        (author,) = load(session, Author)
        book = Book(title="new", author=author)
        session.add(book)

        with capture() as captured:
            session.flush()

        assert summary(captured) == ["INSERT testapp_book"]
        assert Book.objects.get(pk=book.pk).author_id == author.pk


# -- updates ---------------------------------------------------------------------------


@pytest.mark.django_db
class TestMinimalUpdates:
    def test_one_changed_field_is_one_update_of_that_column(self, session):
        publisher = Publisher.objects.create(name="Ace")
        Author.objects.create(name="old", publisher=publisher)
        (author,) = load(session, Author)
        author.name = "new"

        with capture() as captured:
            session.flush()

        (statement,) = writes(captured)
        assert (statement.kind, statement.table) == ("UPDATE", "testapp_author")
        assert statement.columns == {"name"}
        assert Author.objects.get(pk=author.pk).name == "new"
        assert not inspect(author).modified and session.dirty == []

    def test_same_column_on_many_objects_is_one_statement(self, session):
        Author.objects.bulk_create([Author(name=f"a{i}") for i in range(30)])
        authors = load(session, Author)
        for author in authors:
            author.name = author.name.upper()

        with capture() as captured:
            session.flush()

        assert summary(captured) == ["UPDATE testapp_author SET ['name']"]
        assert sorted(Author.objects.values_list("name", flat=True)) == sorted(
            f"A{i}" for i in range(30)
        )

    def test_one_statement_per_set_of_changed_columns(self, session):
        Publisher.objects.create(name="Ace")
        Author.objects.bulk_create([Author(name=f"a{i}") for i in range(4)])
        (publisher,) = load(session, Publisher)
        a0, a1, a2, a3 = load(session, Author)
        a0.name = "x0"
        a1.name = "x1"
        a2.publisher_id = publisher.pk
        a3.name = "x3"
        a3.publisher = publisher

        with capture() as captured:
            session.flush()

        assert sorted(summary(captured)) == [
            "UPDATE testapp_author SET ['name', 'publisher_id']",
            "UPDATE testapp_author SET ['name']",
            "UPDATE testapp_author SET ['publisher_id']",
        ]
        rows = dict(Author.objects.values_list("pk", "publisher_id"))
        assert rows == {a0.pk: None, a1.pk: None, a2.pk: publisher.pk, a3.pk: publisher.pk}
        assert Author.objects.get(pk=a3.pk).name == "x3"

    def test_assigning_the_same_value_sends_nothing(self, session):
        Author.objects.create(name="same")
        (author,) = load(session, Author)
        author.name = "same"

        with capture() as captured:
            session.flush()

        assert writes(captured) == []
        assert not inspect(author).modified

    def test_changing_back_to_the_loaded_value_sends_nothing(self, session):
        Author.objects.create(name="orig")
        (author,) = load(session, Author)
        author.name = "changed"
        author.name = "orig"

        with capture() as captured:
            session.flush()

        assert writes(captured) == []

    def test_auto_now_field_is_written_with_the_change(self, session):
        author = Author.objects.create(name="a")
        Book.objects.create(title="old", author=author)
        (book,) = load(session, Book)
        before = book.updated

        with capture() as captured:
            book.title = "new"
            session.flush()

        (statement,) = writes(captured)
        assert statement.columns == {"title", "updated"}
        row = Book.objects.get(pk=book.pk)
        assert row.updated == book.updated > before
        assert row.created == book.created

    def test_reassigning_a_foreign_key_object_updates_the_key_column(self, session):
        first, second = Author.objects.create(name="1"), Author.objects.create(name="2")
        Book.objects.create(title="t", author=first)
        (book,) = load(session, Book)
        other = session.get(Author, second.pk)
        book.author = other

        with capture() as captured:
            session.flush()

        (statement,) = writes(captured)
        assert statement.columns == {"author_id", "updated"}
        assert Book.objects.get(pk=book.pk).author_id == second.pk
        assert book.author is other

    def test_update_to_a_new_parent_inserts_it_first(self, session):
        Author.objects.create(name="a")
        (author,) = load(session, Author)
        publisher = Publisher(name="new")
        author.publisher = publisher

        with capture() as captured:
            session.flush()

        assert summary(captured) == [
            "INSERT testapp_publisher",
            "UPDATE testapp_author SET ['publisher_id']",
        ]
        assert inspect(publisher).persistent
        assert Author.objects.get(pk=author.pk).publisher_id == publisher.pk

    def test_sql_expression_is_written_then_reloaded(self, session):
        author = Author.objects.create(name="a")
        Book.objects.create(title="t", author=author, pages=10)
        (book,) = load(session, Book)
        book.pages = F("pages") + 5

        session.flush()

        assert Book.objects.get(pk=book.pk).pages == 15
        assert book.pages == 15

    def test_expression_rows_leave_the_batch_the_others_share(self, session):
        author = Author.objects.create(name="a")
        for i in range(4):
            Book.objects.create(title=f"t{i}", author=author, pages=10)
        books = load(session, Book)
        books[0].pages = F("pages") + 5
        for i, book in enumerate(books[1:], 1):
            book.pages = 100 + i

        with capture() as captured:
            session.flush()

        updates = [q for q in summary(captured) if q.startswith("UPDATE")]
        assert updates == ["UPDATE testapp_book SET ['pages', 'updated']"] * 2  # 3 batched, 1 alone
        assert len(captured.captured_queries) == 2
        rows = dict(Book.objects.values_list("pk", "pages"))
        assert rows == {books[0].pk: 15, **{b.pk: 100 + i for i, b in enumerate(books[1:], 1)}}
        assert books[0].pages == 15  # the expression's row was reloaded


@pytest.mark.django_db
class TestColumnTypes:
    VALUES = {
        "price": Decimal("12.50"),
        "born": datetime.date(1929, 10, 21),
        "data": {"tags": ["sf", "utopia"], "n": 1},
        "ratio": 0.25,
        "span": datetime.timedelta(days=2, seconds=5),
        "blob": b"\x00\xffbytes",
        "ip": "192.0.2.1",
        "note": "a long text",
        "flag": True,
        "uid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    }

    def read(self, pk):
        row = Specimen.objects.values(*self.VALUES).get(pk=pk)
        row["blob"] = None if row["blob"] is None else bytes(row["blob"])
        return row

    def test_every_type_inserts_and_reads_back(self, session):
        specimen = Specimen(**self.VALUES)
        session.add(specimen)
        session.flush()

        assert self.read(specimen.pk) == self.VALUES

    def test_one_update_carries_every_type_and_nulls_in_any_row(self, session):
        Specimen.objects.bulk_create([Specimen(**self.VALUES) for _ in range(3)])
        first, second, third = load(session, Specimen)
        for name in self.VALUES:
            setattr(first, name, None)  # the row that carries the casts on PostgreSQL
        second.price, second.born = Decimal("99.99"), datetime.date(2000, 1, 1)
        second.data, second.ratio = [1, 2, 3], 1.5
        second.span, second.blob = datetime.timedelta(minutes=1), b"new"
        second.ip, second.note, second.flag = "2001:db8::1", "changed", False
        second.uid = uuid.UUID(int=1)
        for name in self.VALUES:
            setattr(third, name, None)
        third.note = "only the note is not null"

        with capture() as captured:
            session.flush()

        (statement,) = writes(captured)
        assert statement.columns == set(self.VALUES)
        assert self.read(first.pk) == dict.fromkeys(self.VALUES)
        assert self.read(second.pk) == {
            "price": Decimal("99.99"),
            "born": datetime.date(2000, 1, 1),
            "data": [1, 2, 3],
            "ratio": 1.5,
            "span": datetime.timedelta(minutes=1),
            "blob": b"new",
            "ip": "2001:db8::1",
            "note": "changed",
            "flag": False,
            "uid": uuid.UUID(int=1),
        }
        assert self.read(third.pk) == {
            **dict.fromkeys(self.VALUES),
            "note": "only the note is not null",
        }


# -- ordering: self-reference and cycles -----------------------------------------------


@pytest.mark.django_db
class TestOrdering:
    def test_tree_is_inserted_one_statement_per_level_parents_first(self, session):
        root = Category(name="root")
        children = [Category(name=f"c{i}", parent=root) for i in range(3)]
        leaves = [Category(name=f"l{i}", parent=children[i % 3]) for i in range(9)]
        session.add_all(leaves)

        with capture() as captured:
            session.flush()

        assert summary(captured) == ["INSERT testapp_category"] * 3
        rows = dict(Category.objects.values_list("name", "parent__name"))
        assert rows["root"] is None
        assert all(rows[f"c{i}"] == "root" for i in range(3))
        assert all(rows[f"l{i}"] == f"c{i % 3}" for i in range(9))

    def test_cycle_is_broken_through_the_nullable_foreign_key(self, session):
        department = Department(name="R&D")
        employee = Employee(name="Ada", department=department)
        department.head = employee
        session.add(department)

        with capture() as captured:
            session.flush()

        statements = writes(captured)
        assert [(s.kind, s.table) for s in statements] == [
            ("INSERT", "testapp_department"),
            ("INSERT", "testapp_employee"),
            ("UPDATE", "testapp_department"),
        ]
        assert statements[2].columns == {"head_id"}
        row = Department.objects.get(pk=department.pk)
        assert row.head_id == employee.pk == department.head_id
        assert Employee.objects.get(pk=employee.pk).department_id == department.pk
        assert not inspect(department).modified

    def test_many_cycles_still_take_three_statements(self, session):
        for i in range(10):
            department = Department(name=f"d{i}")
            department.head = Employee(name=f"e{i}", department=department)
            session.add(department)

        with capture() as captured:
            session.flush()

        assert summary(captured) == [
            "INSERT testapp_department",
            "INSERT testapp_employee",
            "UPDATE testapp_department SET ['head_id']",
        ]
        heads = Department.objects.values_list("name", "head__name")
        assert sorted(heads) == sorted((f"d{i}", f"e{i}") for i in range(10))

    def test_unbreakable_cycle_raises_and_writes_nothing(self, session):
        egg = Egg()
        hen = Hen(egg=egg)
        egg.hen = hen
        session.add(egg)

        with capture() as captured, pytest.raises(FlushError) as info:
            session.flush()

        message = str(info.value)
        assert "Egg(pk=None).hen_id -> Hen(pk=None)" in message
        assert "Hen(pk=None).egg_id -> Egg(pk=None)" in message
        assert writes(captured) == []
        assert Egg.objects.count() == Hen.objects.count() == 0
        assert inspect(egg).pending and inspect(hen).pending
        assert egg.pk is None and hen.pk is None
        assert egg.hen is hen and hen.egg is egg

    def test_session_stays_usable_after_a_planning_error(self, session):
        egg = Egg()
        egg.hen = Hen(egg=egg)
        session.add(egg)
        with pytest.raises(FlushError):
            session.flush()

        session.expunge(egg)
        session.expunge(egg.hen)
        session.add(Publisher(name="ok"))
        session.flush()

        assert list(Publisher.objects.values_list("name", flat=True)) == ["ok"]

    def test_parent_pending_in_another_session_is_a_flush_error(self, session):
        other = Session()
        try:
            author = Author(name="elsewhere")
            other.add(author)
            book = Book(title="t", author=author)
            session.add(book)

            with capture() as captured, pytest.raises(FlushError) as info:
                session.flush()

            assert "Book(pk=None).author_id" in str(info.value)
            assert writes(captured) == []
            assert inspect(book).pending and book.pk is None
            assert inspect(author).session is other
        finally:
            other.close()

    def test_expunged_parent_is_a_flush_error(self, session):
        author = Author(name="expunged")
        book = Book(title="t", author=author)
        session.add(book)
        session.expunge(author)

        with pytest.raises(FlushError) as info:
            session.flush()

        assert "Book(pk=None).author_id" in str(info.value)
        assert Author.objects.count() == Book.objects.count() == 0
        assert inspect(author).transient


# -- inheritance and proxies ---------------------------------------------------------


@pytest.mark.django_db
class TestInheritance:
    def test_multi_table_insert_writes_both_tables_with_one_key(self, session):
        restaurant = Restaurant(name="Chez Panisse", serves_pizza=True)
        session.add(restaurant)

        with capture() as captured:
            session.flush()

        assert summary(captured) == ["INSERT testapp_place", "INSERT testapp_restaurant"]
        assert restaurant.pk == restaurant.id == restaurant.place_ptr_id is not None
        assert Place.objects.get(pk=restaurant.pk).name == "Chez Panisse"
        assert Restaurant.objects.get(pk=restaurant.pk).serves_pizza is True
        assert session.get(Restaurant, restaurant.pk) is restaurant

    def test_parent_and_child_fields_update_their_own_tables(self, session):
        Restaurant.objects.create(name="old", serves_pizza=False)
        (restaurant,) = load(session, Restaurant)

        restaurant.name = "new"
        with capture() as parent_only:
            session.flush()
        restaurant.serves_pizza = True
        with capture() as child_only:
            session.flush()
        restaurant.name, restaurant.serves_pizza = "both", False
        with capture() as both:
            session.flush()

        assert summary(parent_only) == ["UPDATE testapp_place SET ['name']"]
        assert summary(child_only) == ["UPDATE testapp_restaurant SET ['serves_pizza']"]
        assert sorted(summary(both)) == [
            "UPDATE testapp_place SET ['name']",
            "UPDATE testapp_restaurant SET ['serves_pizza']",
        ]
        row = Restaurant.objects.get(pk=restaurant.pk)
        assert (row.name, row.serves_pizza) == ("both", False)

    def test_delete_removes_both_rows(self, session):
        Restaurant.objects.create(name="gone")
        (restaurant,) = load(session, Restaurant)
        pk = restaurant.pk
        session.delete(restaurant)

        with capture() as captured:
            session.flush()

        assert sorted(summary(captured)) == ["DELETE testapp_place", "DELETE testapp_restaurant"]
        assert not Restaurant.objects.filter(pk=pk).exists()
        assert not Place.objects.filter(pk=pk).exists()
        assert inspect(restaurant).deleted

    def test_proxy_objects_flush_into_the_concrete_table(self, session):
        author = Author(name="a")
        proxy = BookProxy(title="proxied", author=author)
        session.add(proxy)

        with capture() as captured:
            session.flush()

        assert summary(captured) == ["INSERT testapp_author", "INSERT testapp_book"]
        assert Book.objects.get(pk=proxy.pk).title == "proxied"
        assert session.get(Book, proxy.pk) is proxy
        assert session.get(BookProxy, proxy.pk) is proxy
        assert session.query(Book).get(pk=proxy.pk) is proxy
        assert proxy.shout() == "PROXIED"

    def test_proxy_and_concrete_objects_share_one_insert(self, session):
        author = Author(name="a")
        session.add_all([Book(title="plain", author=author), BookProxy(title="p", author=author)])

        with capture() as captured:
            session.flush()

        assert summary(captured) == ["INSERT testapp_author", "INSERT testapp_book"]
        assert Book.objects.count() == 2


# -- keys that are not integers --------------------------------------------------------


@pytest.mark.django_db
class TestKeys:
    def test_uuid_key_insert_update_delete(self, session):
        tag = Tag(name="new")
        key = tag.pk
        session.add(tag)
        session.flush()
        assert tag.pk == key
        assert Tag.objects.get(pk=key).name == "new"
        assert session.get(Tag, key) is tag

        tag.name = "renamed"
        with capture() as updated:
            session.flush()
        assert summary(updated) == ["UPDATE testapp_tag SET ['name']"]
        assert Tag.objects.get(pk=key).name == "renamed"

        session.delete(tag)
        with capture() as deleted:
            session.flush()
        assert summary(deleted) == ["DELETE testapp_tag"]
        assert not Tag.objects.filter(pk=key).exists()

    def test_natural_key_parent_is_cascaded_and_inserted_first(self, session):
        city = City(name="Paris")
        city.country = Country(code="FR", name="France")
        session.add(city)

        with capture() as captured:
            session.flush()

        assert summary(captured) == ["INSERT testapp_country", "INSERT testapp_city"]
        assert City.objects.get(pk=city.pk).country_id == "FR"
        assert session.get(Country, "FR") is city.country
        assert inspect(city.country).persistent

    def test_natural_key_update_and_cascading_delete(self, session):
        france = Country.objects.create(code="FR", name="France")
        City.objects.create(name="Paris", country=france)
        (country,) = load(session, Country)
        (city,) = load(session, City)

        country.name = "République française"
        session.flush()
        assert Country.objects.get(pk="FR").name == "République française"

        session.delete(country)
        session.flush()
        assert not City.objects.exists() and not Country.objects.exists()
        assert inspect(city).deleted and inspect(country).deleted

    def test_composite_key_insert_update_delete(self, session):
        enrollment = Enrollment(student_id=1, course_id=2, grade="B")
        other = Enrollment(student_id=1, course_id=3, grade="C")
        session.add_all([enrollment, other])
        session.flush()
        assert session.get(Enrollment, (1, 2)) is enrollment
        assert inspect(enrollment).key == (Enrollment, (1, 2), "default")

        enrollment.grade = "A"
        with capture() as updated:
            session.flush()
        assert summary(updated) == ["UPDATE testapp_enrollment SET ['grade']"]
        grades = dict(
            ((s, c), g)
            for s, c, g in Enrollment.objects.values_list("student_id", "course_id", "grade")
        )
        assert grades == {(1, 2): "A", (1, 3): "C"}

        session.delete(enrollment)
        with capture() as deleted:
            session.flush()
        assert summary(deleted) == ["DELETE testapp_enrollment"]
        assert list(Enrollment.objects.values_list("course_id", flat=True)) == [3]
        assert inspect(enrollment).deleted and inspect(other).persistent

    def test_composite_key_columns_do_not_expire_on_commit(self, session):
        enrollment = Enrollment(student_id=1, course_id=2)
        session.add(enrollment)
        session.commit()

        with capture() as captured:
            assert enrollment.pk == (1, 2)
            assert (enrollment.student_id, enrollment.course_id) == (1, 2)
        assert len(captured) == 0
        assert inspect(enrollment).expired_attributes == {"grade"}

    def test_stale_composite_row_is_named_by_its_key(self, session):
        Enrollment.objects.create(student_id=1, course_id=2)
        (enrollment,) = load(session, Enrollment)
        Enrollment.objects.filter(student_id=1, course_id=2).delete()
        enrollment.grade = "A"

        with pytest.raises(StaleDataError) as info:
            session.flush()

        assert "Enrollment(pk=(1, 2))" in str(info.value)

    def test_primary_key_change_updates_the_row_and_the_identity(self, session):
        Country.objects.create(code="FR", name="France")
        (country,) = load(session, Country)
        country.code = "FX"

        with capture() as captured:
            session.flush()

        assert summary(captured) == ["UPDATE testapp_country SET ['code']"]
        assert list(Country.objects.values_list("code", flat=True)) == ["FX"]
        assert session.get(Country, "FX") is country
        assert inspect(country).key == (Country, "FX", "default")


# -- Django compatibility: pre_save, auto_now, signals ------------------------------------


@pytest.mark.django_db
class TestSignals:
    def test_insert_sends_pre_and_post_save_created(self, session, signal_log):
        author = Author(name="a")
        session.add(author)
        session.flush()

        assert signal_log == [("pre_save", author, None), ("post_save", author, True)]

    def test_update_sends_post_save_not_created(self, session, signal_log):
        Author.objects.create(name="a")
        (author,) = load(session, Author)
        signal_log.clear()
        author.name = "b"
        session.flush()

        assert signal_log == [("pre_save", author, None), ("post_save", author, False)]

    def test_delete_sends_pre_and_post_delete_with_session_objects(self, session, signal_log):
        author = Author.objects.create(name="a")
        Book.objects.create(title="t", author=author)
        (author,) = load(session, Author)
        (book,) = load(session, Book)
        signal_log.clear()
        session.delete(author)
        session.flush()

        assert sorted((name, type(obj).__name__) for name, obj, _ in signal_log) == [
            ("post_delete", "Author"),
            ("post_delete", "Book"),
            ("pre_delete", "Author"),
            ("pre_delete", "Book"),
        ]
        assert all(obj is author or obj is book for _, obj, _ in signal_log)

    def test_pre_save_receiver_changes_are_written(self, session):
        def shout(sender, instance, **kwargs):
            instance.name = instance.name.upper()

        signals.pre_save.connect(shout, sender=Author)
        try:
            author = Author(name="quiet")
            session.add(author)
            session.flush()
            assert Author.objects.get(pk=author.pk).name == "QUIET"

            author.name = "again"
            with capture() as captured:
                session.flush()
            assert summary(captured) == ["UPDATE testapp_author SET ['name']"]
            assert Author.objects.get(pk=author.pk).name == "AGAIN"
        finally:
            signals.pre_save.disconnect(shout, sender=Author)

    def test_signals_can_be_switched_off(self, session, signal_log, settings):
        settings.SESSIONORM = {"SEND_SIGNALS": False}
        author = Author(name="a")
        book = Book(title="t", author=author)
        session.add(book)
        session.flush()
        author.name = "b"
        session.flush()
        session.delete(author)
        session.flush()

        assert signal_log == []
        assert not Author.objects.exists() and not Book.objects.exists()

    def test_auto_now_add_and_auto_now_without_signals(self, session, settings):
        settings.SESSIONORM = {"SEND_SIGNALS": False}
        book = Book(title="t", author=Author(name="a"))
        session.add(book)
        session.flush()

        assert book.created is not None and book.updated is not None
        row = Book.objects.get(pk=book.pk)
        assert (row.created, row.updated) == (book.created, book.updated)


# -- deletes ---------------------------------------------------------------------------


@pytest.mark.django_db
class TestDeletes:
    def test_children_are_deleted_before_parents(self, session):
        author = Author.objects.create(name="a")
        Book.objects.create(title="t", author=author)
        (author,) = load(session, Author)
        (book,) = load(session, Book)
        session.delete(author)
        session.delete(book)

        with capture() as captured:
            session.flush()

        tables = [s.table for s in writes(captured) if s.kind == "DELETE"]
        assert tables.index("testapp_book") < tables.index("testapp_author")
        assert inspect(author).deleted and inspect(book).deleted
        assert not Author.objects.exists() and not Book.objects.exists()

    def test_cascaded_rows_held_by_the_session_become_deleted(self, session):
        author = Author.objects.create(name="a")
        book = Book.objects.create(title="t", author=author)
        Review.objects.bulk_create([Review(book=book, stars=s) for s in (1, 5)])
        (book,) = load(session, Book)
        reviews = load(session, Review)
        session.delete(book)

        session.flush()

        assert all(inspect(r).deleted for r in reviews)
        assert not Review.objects.exists()
        assert session.get(Review, reviews[0].pk) is None
        assert reviews[0] not in session

    def test_cascade_to_rows_not_in_the_session(self, session):
        author = Author.objects.create(name="a")
        book = Book.objects.create(title="t", author=author)
        Review.objects.create(book=book)
        (author,) = load(session, Author)
        session.delete(author)

        session.flush()

        assert not Book.objects.exists() and not Review.objects.exists()
        assert inspect(author).deleted

    def test_protect_raises_and_deletes_nothing(self, session):
        author = Author.objects.create(name="a")
        book = Book.objects.create(title="t", author=author)
        Loan.objects.create(book=book)
        (book,) = load(session, Book)
        (loan,) = load(session, Loan)
        session.delete(book)

        with capture() as captured, pytest.raises(ProtectedError):
            session.flush()

        assert [s for s in writes(captured) if s.kind == "DELETE"] == []
        assert Book.objects.filter(pk=book.pk).exists() and Loan.objects.count() == 1
        assert inspect(book).persistent and session.is_active
        assert session.deleted == [book]  # still marked: delete the loan too, or roll back

        session.delete(loan)
        session.flush()
        assert not Book.objects.exists() and not Loan.objects.exists()
        assert inspect(book).deleted and inspect(loan).deleted

    def test_protecting_row_deleted_in_the_same_flush_goes_first(self, session):
        author = Author.objects.create(name="a")
        book = Book.objects.create(title="t", author=author)
        Loan.objects.create(book=book)
        (book,) = load(session, Book)
        (loan,) = load(session, Loan)
        session.delete(book)
        session.delete(loan)

        with capture() as captured:
            session.flush()

        deletes = [s.table for s in writes(captured) if s.kind == "DELETE"]
        assert deletes.index("testapp_loan") < deletes.index("testapp_book")
        assert not Book.objects.exists() and not Loan.objects.exists()
        assert inspect(book).deleted and inspect(loan).deleted

    def test_set_null_expires_the_session_objects_key(self, session):
        publisher = Publisher.objects.create(name="p")
        Author.objects.create(name="a", publisher=publisher)
        (author,) = load(session, Author)
        (publisher,) = load(session, Publisher)
        assert author.publisher_id == publisher.pk
        session.delete(publisher)

        session.flush()

        assert "publisher_id" in inspect(author).expired_attributes
        with capture() as captured:
            assert author.publisher_id is None
        assert len(captured) == 1  # reloaded with one SELECT
        assert Author.objects.get(pk=author.pk).publisher_id is None
        assert inspect(author).persistent

    def test_many_objects_one_delete_per_table(self, session):
        authors = Author.objects.bulk_create([Author(name=f"a{i}") for i in range(10)])
        Book.objects.bulk_create([Book(title=f"t{i}", author=authors[i % 10]) for i in range(30)])
        for obj in load(session, Book) + load(session, Author):
            session.delete(obj)

        with capture() as captured:
            session.flush()

        deletes = [s.table for s in writes(captured) if s.kind == "DELETE"]
        assert sorted(set(deletes)) == sorted(deletes)  # no table twice
        assert {"testapp_book", "testapp_author"} <= set(deletes)
        assert deletes.index("testapp_book") < deletes.index("testapp_author")
        assert not Author.objects.exists() and not Book.objects.exists()

    def test_changed_then_deleted_object_is_only_deleted(self, session):
        Author.objects.create(name="a")
        (author,) = load(session, Author)
        author.name = "changed"
        session.delete(author)

        with capture() as captured:
            session.flush()

        assert summary(captured) == ["DELETE testapp_author"]
        assert inspect(author).deleted

    def test_changed_object_removed_by_a_cascade_is_not_updated(self, session):
        author = Author.objects.create(name="a")
        Book.objects.create(title="t", author=author)
        (author,) = load(session, Author)
        (book,) = load(session, Book)
        book.title = "changed"
        session.delete(author)

        with capture() as captured:
            session.flush()

        statements = writes(captured)
        assert [s.kind for s in statements] == ["DELETE"] * len(statements)
        assert {"testapp_book", "testapp_author"} <= {s.table for s in statements}
        assert inspect(book).deleted and not Book.objects.exists()

    def test_deleting_the_parent_row_deletes_the_child_object(self, session):
        Restaurant.objects.create(name="r")
        (place,) = load(session, Place)
        (restaurant,) = load(session, Restaurant)
        assert place is not restaurant  # two models, two identities, one row of place
        session.delete(place)

        session.flush()

        assert inspect(place).deleted and inspect(restaurant).deleted
        assert not Place.objects.exists() and not Restaurant.objects.exists()

    def test_delete_and_add_of_the_same_key_in_one_flush(self, session):
        Country.objects.create(code="FR", name="France")
        (old,) = load(session, Country)
        session.delete(old)
        session.add(Country(code="FR", name="République"))

        session.flush()

        assert list(Country.objects.values_list("name", flat=True)) == ["République"]
        assert inspect(old).deleted and session.get(Country, "FR").name == "République"

    def test_deleted_objects_leave_the_session_on_commit(self, session):
        Author.objects.create(name="a")
        (author,) = load(session, Author)
        session.delete(author)
        assert session.deleted == [author]
        session.flush()
        assert inspect(author).deleted and session.deleted == []

        session.commit()

        assert inspect(author).detached and inspect(author).was_deleted


@pytest.mark.django_db(databases=["default", "other"])
class TestDatabases:
    def test_session_bound_to_another_database_writes_there(self):
        with Session(using="other") as session:
            author = Author(name="elsewhere")
            session.add(Book(title="t", author=author))
            session.flush()
            author.name = "renamed"
            session.flush()
            assert inspect(author).key == (Author, author.pk, "other")

            assert not Author.objects.exists()
            assert Author.objects.using("other").get().name == "renamed"
            assert Book.objects.using("other").get().author_id == author.pk

            session.delete(author)
            session.flush()
            assert not Book.objects.using("other").exists()

    def test_models_bound_to_two_databases_flush_to_each(self):
        with Session(binds={Publisher: "other"}) as session:
            publisher, author = Publisher(name="p"), Author(name="a")
            session.add_all([publisher, author])
            session.flush()

            assert list(Publisher.objects.using("other").values_list("name", flat=True)) == ["p"]
            assert list(Author.objects.values_list("name", flat=True)) == ["a"]
            assert not Publisher.objects.exists()
            assert inspect(publisher).key[2] == "other"


# -- optimistic concurrency ------------------------------------------------------------


@pytest.mark.django_db
class TestStaleData:
    def test_update_increments_the_version(self, session):
        Document.objects.create(title="draft")
        (doc,) = load(session, Document)

        doc.title = "final"
        with capture() as captured:
            session.flush()

        assert summary(captured) == ["UPDATE testapp_document SET ['title', 'version']"]
        assert doc.version == 2
        assert Document.objects.values_list("title", "version").get() == ("final", 2)
        doc.title = "again"
        session.flush()
        assert Document.objects.get().version == doc.version == 3

    def test_concurrent_version_change_fails_the_update(self, session):
        Document.objects.create(title="draft")
        (doc,) = load(session, Document)
        Document.objects.filter(pk=doc.pk).update(version=F("version") + 1)
        doc.title = "mine"

        with pytest.raises(StaleDataError) as info:
            session.flush()

        assert f"Document(pk={doc.pk})" in str(info.value)
        assert "Nothing of this flush was written" in str(info.value)
        assert Document.objects.get().title == "draft"
        assert doc.version == 1 and doc.title == "mine"  # the version bump was undone
        assert inspect(doc).modified

    def test_only_the_stale_object_is_named(self, session):
        Document.objects.bulk_create([Document(title=f"d{i}") for i in range(3)])
        docs = load(session, Document)
        Document.objects.filter(pk=docs[1].pk).update(version=F("version") + 1)
        for doc in docs:
            doc.title = "changed"

        with pytest.raises(StaleDataError) as info:
            session.flush()

        message = str(info.value)
        assert f"Document(pk={docs[1].pk})" in message
        assert f"Document(pk={docs[0].pk})" not in message
        assert f"Document(pk={docs[2].pk})" not in message
        assert not Document.objects.filter(title="changed").exists()

    def test_concurrent_version_change_fails_the_delete(self, session):
        Document.objects.create(title="draft")
        (doc,) = load(session, Document)
        Document.objects.filter(pk=doc.pk).update(version=F("version") + 1)
        session.delete(doc)

        with pytest.raises(StaleDataError) as info:
            session.flush()

        assert f"Document(pk={doc.pk})" in str(info.value)
        assert Document.objects.filter(pk=doc.pk).exists()

    def test_update_of_a_row_deleted_elsewhere_fails_without_version(self, session):
        Author.objects.create(name="a")
        (author,) = load(session, Author)
        Author.objects.filter(pk=author.pk).delete()
        author.name = "b"

        with pytest.raises(StaleDataError) as info:
            session.flush()

        assert f"Author(pk={author.pk})" in str(info.value)

    def test_expression_update_of_a_stale_row_fails(self, session):
        Document.objects.create(title="draft")
        (doc,) = load(session, Document)
        Document.objects.filter(pk=doc.pk).update(version=F("version") + 1)
        doc.title = Upper("title")

        with pytest.raises(StaleDataError) as info:
            session.flush()

        assert f"Document(pk={doc.pk})" in str(info.value)
        assert Document.objects.get().title == "draft"

    def test_expression_update_checks_and_bumps_the_version(self, session):
        Document.objects.create(title="draft")
        (doc,) = load(session, Document)
        doc.title = Upper("title")

        session.flush()

        assert Document.objects.values_list("title", "version").get() == ("DRAFT", 2)
        assert (doc.title, doc.version) == ("DRAFT", 2)

    def test_delete_of_a_row_deleted_elsewhere_fails(self, session):
        Author.objects.create(name="a")
        (author,) = load(session, Author)
        Author.objects.filter(pk=author.pk).delete()
        session.delete(author)

        with pytest.raises(StaleDataError) as info:
            session.flush()

        assert f"Author(pk={author.pk})" in str(info.value)

    def test_session_needs_rollback_after_stale_data(self, session):
        Document.objects.create(title="draft")
        (doc,) = load(session, Document)
        Document.objects.filter(pk=doc.pk).update(version=F("version") + 1)
        doc.title = "mine"
        with pytest.raises(StaleDataError):
            session.flush()

        with pytest.raises(PendingRollbackError):
            session.flush()
        session.rollback()

        # The test's "other transaction" ran inside the session's savepoint, so the
        # rollback undid it too: the object reloads the row as it now is.
        assert (doc.title, doc.version) == ("draft", 1)
        doc.title = "mine"
        session.flush()
        assert Document.objects.values_list("title", "version").get() == ("mine", 2)


# -- failed flushes --------------------------------------------------------------------


@pytest.mark.django_db
class TestFailedFlush:
    def test_integrity_error_leaves_objects_as_before(self, session):
        Country.objects.create(code="FR", name="France")
        author = Author(name="a")
        book = Book(title="t", author=author)
        city = City(name="Paris", country=Country(code="FR", name="duplicate key"))
        session.add_all([book, city])

        with pytest.raises(IntegrityError):
            session.flush()

        for obj in (author, book, city, city.country):
            assert inspect(obj).pending and obj.pk is None or isinstance(obj, Country)
        assert author.pk is None and book.pk is None and city.pk is None
        assert book.author_id is None and city.country_id == "FR"
        assert book.author is author
        assert author._state.adding and book._state.adding
        assert not Author.objects.exists() and not Book.objects.exists()
        assert list(Country.objects.values_list("name", flat=True)) == ["France"]

    def test_failed_flush_refuses_work_until_rollback(self, session):
        Country.objects.create(code="FR", name="France")
        session.add(Country(code="FR", name="again"))
        with pytest.raises(IntegrityError):
            session.flush()

        with pytest.raises(PendingRollbackError) as info:
            session.flush()
        assert "IntegrityError" in str(info.value)
        with pytest.raises(PendingRollbackError):
            session.query(Author).count()
        assert not session.is_active

        session.rollback()
        assert session.is_active
        session.add(Country(code="DE", name="Germany"))
        session.flush()
        assert sorted(Country.objects.values_list("code", flat=True)) == ["DE", "FR"]

    def test_pending_objects_become_transient_on_rollback(self, session):
        Country.objects.create(code="FR", name="France")
        author = Author(name="a")
        session.add_all([author, Country(code="FR", name="again")])
        with pytest.raises(IntegrityError):
            session.flush()

        session.rollback()

        assert inspect(author).transient and author.pk is None
        session.add(author)
        session.flush()
        assert Author.objects.get().pk == author.pk

    def test_rollback_after_a_flush_forgets_generated_values(self, session):
        author = Author(name="a")
        book = Book(title="t", author=author)
        session.add(book)
        session.flush()
        assert None not in (author.pk, book.pk, book.author_id, book.created)

        session.rollback()

        assert inspect(book).transient and inspect(author).transient
        assert (author.pk, book.pk, book.author_id) == (None, None, None)
        assert (book.created, book.updated) == (None, None)
        assert book.author is author
        assert not Book.objects.exists()

    def test_failed_update_keeps_the_change_and_the_version(self, session):
        Document.objects.create(title="draft")
        (doc,) = load(session, Document)
        doc.title = None  # NOT NULL

        with pytest.raises(IntegrityError):
            session.flush()

        assert doc.version == 1 and doc.title is None
        assert inspect(doc).modified
        assert inspect(doc).attrs.title.history.deleted == ("draft",)
        assert Document.objects.values_list("title", "version").get() == ("draft", 1)

    def test_failure_after_earlier_steps_undoes_their_keys(self, session):
        author = Author(name="a")
        book = Book(title="t", author=author)
        review = Review(book=book, stars=None)  # NOT NULL: the last INSERT fails
        session.add(review)

        with capture() as captured, pytest.raises(IntegrityError):
            session.flush()

        assert [s.table for s in writes(captured)] == [
            "testapp_author",
            "testapp_book",
            "testapp_review",
        ]
        assert (author.pk, book.pk, review.pk) == (None, None, None)
        assert (book.author_id, review.book_id) == (None, None)
        assert (book.created, book.updated) == (None, None)  # auto_now(_add) undone too
        assert all(inspect(o).pending for o in (author, book, review))
        assert not Author.objects.exists() and not Book.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_failed_flush_outside_a_test_transaction_rolls_back_everything():
    with Session() as session:
        author = Author(name="kept?")
        session.add(author)
        session.flush()
        session.add(Review(book=Book(title="t", author=author), stars=None))
        with pytest.raises(IntegrityError):
            session.flush()

        session.rollback()

        assert inspect(author).transient
        assert not Author.objects.exists() and not Book.objects.exists()
        session.add(Author(name="after"))
        session.commit()
    assert list(Author.objects.values_list("name", flat=True)) == ["after"]


# -- re-entrancy -----------------------------------------------------------------------


@pytest.mark.django_db
class TestReentrancy:
    def test_flush_from_a_post_save_receiver_is_refused(self, session):
        def reenter(sender, instance, **kwargs):
            session.flush()

        signals.post_save.connect(reenter, sender=Author)
        try:
            session.add(Author(name="a"))
            with pytest.raises(InvalidRequestError, match="already flushing"):
                session.flush()
        finally:
            signals.post_save.disconnect(reenter, sender=Author)

        session.rollback()
        assert not Author.objects.exists()
        session.add(Author(name="b"))
        session.flush()
        assert list(Author.objects.values_list("name", flat=True)) == ["b"]

    def test_query_in_a_receiver_does_not_flush_again(self, session):
        seen = []

        def count_authors(sender, instance, **kwargs):
            seen.append(session.query(Author).count())

        signals.post_save.connect(count_authors, sender=Author)
        try:
            session.add_all([Author(name="a"), Author(name="b")])
            session.flush()
        finally:
            signals.post_save.disconnect(count_authors, sender=Author)

        assert seen == [2, 2]
