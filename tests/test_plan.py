"""The flush plan without a database: ``unitofwork.plan_saves`` on unsaved objects.

Each test builds model instances in memory, groups them as the session does
(``group_rows``) and asserts the steps the planner returns (their order, the rows
in each, the foreign keys it will copy, the cycles it breaks) or the
``FlushError`` it raises. No test here touches a database: none carries the
``django_db`` mark.
"""

import pytest

from sessionorm.exc import FlushError
from sessionorm.state import ensure_state
from sessionorm.unitofwork import (
    FlushPlan,
    InsertStep,
    PostUpdateStep,
    Sync,
    UpdateStep,
    group_rows,
    plan_saves,
)
from tests.testapp.models import (
    Author,
    Book,
    BookProxy,
    Category,
    City,
    Country,
    Department,
    Egg,
    Employee,
    Hen,
    Place,
    Publisher,
    Restaurant,
)


def row(obj, alias="default", attnames=None):
    """One row for ``obj``: an insert, or an update of ``attnames``."""
    if attnames is None:
        return (obj, ensure_state(obj), alias)
    return (obj, ensure_state(obj), alias, tuple(attnames))


def rows(objects, alias="default"):
    return [row(obj, alias) for obj in objects]


def planned(inserts, updates):
    """plan_saves() on rows grouped as the session groups them (by model and database)."""
    return plan_saves(group_rows(inserts), group_rows(updates))


def kinds(steps):
    return [(step.kind, step.model) for step in steps]


def sync_pairs(step):
    """{(id(child), attname): parent} of a step's syncs."""
    return {(id(s.child), s.field.attname): s.parent for s in step.syncs}


class TestParentsBeforeChildren:
    def test_parent_inserted_before_child_whatever_the_input_order(self):
        author = Author(name="Le Guin")
        book = Book(title="The Dispossessed", author=author)

        steps = planned(rows([book, author]), [])

        assert kinds(steps) == [("insert", Author), ("insert", Book)]
        assert steps[0].objects == [author]
        assert steps[1].objects == [book]

    def test_child_step_copies_each_parent_key(self):
        author = Author(name="Le Guin")
        book = Book(title="The Dispossessed", author=author)

        steps = planned(rows([book, author]), [])

        assert steps[0].syncs == []
        assert steps[1].syncs == [Sync(book, Book._meta.get_field("author"), author)]
        assert steps[1].syncs[0].parent is author

    def test_many_rows_of_a_model_share_one_step(self):
        authors = [Author(name=f"a{i}") for i in range(20)]
        books = [Book(title=f"b{i}", author=authors[i % 20]) for i in range(200)]

        steps = planned(rows(books + authors), [])

        assert kinds(steps) == [("insert", Author), ("insert", Book)]
        assert len(steps[0].objects) == 20 and len(steps[1].objects) == 200
        pairs = sync_pairs(steps[1])
        assert len(pairs) == 200
        assert all(pairs[(id(b), "author_id")] is b.author for b in books)

    def test_chain_of_three_models_in_dependency_order(self):
        publisher = Publisher(name="Ace")
        author = Author(name="Le Guin", publisher=publisher)
        book = Book(title="Lathe", author=author)

        steps = planned(rows([book, author, publisher]), [])

        assert kinds(steps) == [("insert", Publisher), ("insert", Author), ("insert", Book)]
        assert "after their testapp.Author" in steps[2].reason
        assert "after their testapp.Publisher" in steps[1].reason
        assert steps[0].reason == "new objects"

    def test_parent_with_a_natural_key_still_goes_first(self):
        france = Country(code="FR", name="France")
        paris = City(name="Paris", country=france)
        assert paris.country_id == "FR"  # the key is known before any INSERT

        steps = planned(rows([paris, france]), [])

        assert kinds(steps) == [("insert", Country), ("insert", City)]
        assert not any(isinstance(s, PostUpdateStep) for s in steps)

    def test_saved_parent_whose_key_arrived_after_assignment_is_synced(self):
        author = Author(name="Le Guin")
        book = Book(title="Lathe", author=author)
        author.id = 7  # e.g. written by an earlier flush, after the assignment

        (step,) = planned([row(book)], [])

        assert book.author_id is None
        assert step.syncs == [Sync(book, Book._meta.get_field("author"), author)]

    def test_saved_parent_with_copied_key_needs_no_sync(self):
        author = Author(id=7, name="Le Guin")
        book = Book(title="Lathe", author=author)

        (step,) = planned([row(book)], [])

        assert step.syncs == []
        assert step.reason == "new objects"

    def test_parent_never_added_is_a_flush_error_naming_the_field(self):
        author = Author(name="Nobody added me")
        book = Book(title="Orphan", author=author)

        with pytest.raises(FlushError) as info:
            planned([row(book)], [])

        message = str(info.value)
        assert "Book(pk=None).author_id" in message
        assert "Author(pk=None)" in message
        assert "session.add()" in message

    def test_unrelated_models_each_get_one_step(self):
        steps = planned(rows([Publisher(name="p"), Country(code="DE"), Publisher(name="q")]), [])

        assert sorted(s.model.__name__ for s in steps) == ["Country", "Publisher"]
        assert all(isinstance(s, InsertStep) for s in steps)
        (publishers,) = [s for s in steps if s.model is Publisher]
        assert len(publishers.objects) == 2

    def test_each_database_gets_its_own_step(self):
        a, b = Publisher(name="a"), Publisher(name="b")

        steps = planned([row(a, "default"), row(b, "other")], [])

        assert sorted((s.alias, tuple(s.objects)) for s in steps) == [
            ("default", (a,)),
            ("other", (b,)),
        ]


class TestInheritanceAndProxies:
    def test_proxy_rows_join_their_concrete_model_step(self):
        author = Author(id=1, name="a")
        plain, proxied = Book(title="plain", author=author), BookProxy(title="proxy", author=author)

        (step,) = planned(rows([plain, proxied]), [])

        assert step.model is Book
        assert step.objects == [plain, proxied]

    def test_multi_table_child_is_one_step_of_the_child_model(self):
        restaurant = Restaurant(name="Chez Panisse", serves_pizza=True)
        place = Place(name="Park")

        steps = planned(rows([restaurant, place]), [])

        assert sorted(s.model.__name__ for s in steps) == ["Place", "Restaurant"]
        (step,) = [s for s in steps if s.model is Restaurant]
        assert step.objects == [restaurant]
        assert step.syncs == []  # the parent link is written by the insert itself


class TestSelfReference:
    def test_tree_inserted_one_level_per_step_parents_first(self):
        root = Category(name="root")
        children = [Category(name=f"c{i}", parent=root) for i in range(3)]
        grandchildren = [Category(name=f"g{i}", parent=children[i % 3]) for i in range(6)]

        steps = planned(rows(grandchildren + children + [root]), [])

        assert kinds(steps) == [("insert", Category)] * 3
        assert [set(map(id, s.objects)) for s in steps] == [
            {id(root)},
            set(map(id, children)),
            set(map(id, grandchildren)),
        ]
        assert all(s.parent is root for s in steps[1].syncs)
        assert sync_pairs(steps[2]) == {(id(g), "parent_id"): g.parent for g in grandchildren}

    def test_parent_with_known_key_needs_no_levels(self):
        root = Category(id=1, name="root")
        child = Category(name="child", parent=root)

        steps = planned(rows([child, root]), [])

        assert len(steps) == 1
        assert steps[0].objects == [child, root]

    def test_two_rows_pointing_at_each_other_are_inserted_null_then_updated(self):
        a, b = Category(name="a"), Category(name="b")
        a.parent, b.parent = b, a

        steps = planned(rows([a, b]), [])

        parent = Category._meta.get_field("parent")
        assert [s.kind for s in steps] == ["insert", "post_update"]
        assert steps[0].objects == [a, b]
        assert steps[0].nulled == [(a, parent), (b, parent)]
        assert sync_pairs(steps[1]) == {(id(a), "parent_id"): b, (id(b), "parent_id"): a}

    def test_rows_hanging_below_a_cycle_keep_their_key_in_the_insert(self):
        a, b = Category(name="a"), Category(name="b")
        a.parent, b.parent = b, a
        leaf = Category(name="leaf", parent=a)

        steps = planned(rows([leaf, a, b]), [])

        assert [s.kind for s in steps] == ["insert", "insert", "post_update"]
        assert steps[1].objects == [leaf]
        assert steps[1].nulled == []
        assert steps[1].syncs == [Sync(leaf, Category._meta.get_field("parent"), a)]
        assert {id(s.child) for s in steps[2].syncs} == {id(a), id(b)}


class TestCycles:
    def test_nullable_cycle_is_broken_with_a_post_update(self):
        department = Department(name="R&D")
        employee = Employee(name="Ada", department=department)
        department.head = employee

        steps = planned(rows([employee, department]), [])

        assert kinds(steps) == [
            ("insert", Department),
            ("insert", Employee),
            ("post_update", Department),
        ]
        head = Department._meta.get_field("head")
        assert steps[0].nulled == [(department, head)]
        assert steps[0].syncs == []
        assert steps[1].syncs == [
            Sync(employee, Employee._meta.get_field("department"), department)
        ]
        assert steps[2].syncs == [Sync(department, head, employee)]

    def test_many_cycles_share_three_steps(self):
        pairs = []
        for i in range(5):
            department = Department(name=f"d{i}")
            employee = Employee(name=f"e{i}", department=department)
            department.head = employee
            pairs.append((department, employee))

        steps = planned(rows([o for pair in pairs for o in pair]), [])

        assert [s.kind for s in steps] == ["insert", "insert", "post_update"]
        assert len(steps[0].objects) == len(steps[1].objects) == len(steps[2].syncs) == 5
        assert {(id(s.child), id(s.parent)) for s in steps[2].syncs} == {
            (id(d), id(e)) for d, e in pairs
        }

    def test_not_null_cycle_is_a_flush_error_naming_objects_and_fields(self):
        egg = Egg()
        hen = Hen(egg=egg)
        egg.hen = hen

        with pytest.raises(FlushError) as info:
            planned(rows([egg, hen]), [])

        message = str(info.value)
        assert "Egg(pk=None).hen_id -> Hen(pk=None)" in message
        assert "Hen(pk=None).egg_id -> Egg(pk=None)" in message
        assert "null=True" in message

    def test_not_null_cycle_with_known_keys_needs_no_breaking(self):
        egg = Egg(id=1)
        hen = Hen(id=2, egg=egg)
        egg.hen = hen

        steps = planned(rows([egg, hen]), [])

        assert [s.kind for s in steps] == ["insert", "insert"]
        assert all(s.nulled == [] for s in steps)


class TestUpdates:
    def test_updates_come_after_inserts_with_their_attributes(self):
        old = Author(id=3, name="renamed")
        new = Publisher(name="new")

        steps = planned([row(new)], [row(old, attnames=["name"])])

        assert kinds(steps) == [("insert", Publisher), ("update", Author)]
        update = steps[1]
        assert isinstance(update, UpdateStep)
        assert update.objects == [old]
        assert update.attnames == [("name",)]

    def test_update_pointing_at_a_new_parent_writes_the_copied_key(self):
        publisher = Publisher(name="new")
        author = Author(id=3, name="moved")
        author.publisher = publisher

        steps = planned([row(publisher)], [row(author, attnames=["publisher_id"])])

        assert kinds(steps) == [("insert", Publisher), ("update", Author)]
        assert steps[1].syncs == [Sync(author, Author._meta.get_field("publisher"), publisher)]
        assert steps[1].attnames == [("publisher_id",)]

    def test_per_object_attribute_sets_are_kept(self):
        a, b = Author(id=1, name="x"), Author(id=2, name="y")

        (step,) = planned([], [row(a, attnames=["name"]), row(b, attnames=["publisher_id"])])

        assert step.objects == [a, b]
        assert step.attnames == [("name",), ("publisher_id",)]


class TestPlanValue:
    def test_describe_lists_numbered_steps_with_reasons(self):
        department = Department(name="R&D")
        employee = Employee(name="Ada", department=department)
        department.head = employee

        plan = FlushPlan(planned(rows([department, employee]), []))

        assert plan.describe() == [
            "1. INSERT 1 testapp.Department into 'default': new objects",
            "2. INSERT 1 testapp.Employee into 'default': new objects, after their "
            "testapp.Department (foreign keys copied)",
            "3. UPDATE 1 testapp.Department in 'default': foreign keys of a cycle between "
            "new rows, set once both rows exist",
        ]
        assert str(plan) == "\n".join(plan.describe())
        assert [d["kind"] for d in plan.as_dict()] == ["insert", "insert", "post_update"]
        assert [d["model"] for d in plan.as_dict()] == [
            "testapp.Department",
            "testapp.Employee",
            "testapp.Department",
        ]

    def test_empty_plan_is_false_and_says_so(self):
        plan = FlushPlan(planned([], []))

        assert not plan
        assert str(plan) == "(nothing to flush)"

    def test_update_step_describes_its_columns(self):
        a, b = Author(id=1, name="x"), Author(id=2, name="y")

        (step,) = planned([], [row(a, attnames=["name"]), row(b, attnames=["publisher_id"])])

        assert step.describe() == (
            "UPDATE 2 testapp.Author in 'default' (name, publisher_id): "
            "changed attributes of persistent objects"
        )

    def test_sync_repr_names_child_field_and_parent(self):
        author = Author(name="a")
        book = Book(title="b", author=author)

        steps = planned(rows([author, book]), [])

        assert repr(steps[1].syncs[0]) == "Book(pk=None).author_id <- Author(pk=None)"
