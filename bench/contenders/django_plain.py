"""Plain Django reads: ``Model.objects.get()`` and QuerySets, no identity map.

The baseline of the read scenarios: every ``get()`` queries, and every load makes new
objects that nothing else holds.
"""

from __future__ import annotations

from bench import measure, models
from bench.contenders import Case, contender

# The plain twin (bench/models.py): Django as it is without sessionorm's hooks.
from bench.models import PlainBook as Book
from bench.scenarios import expect

register = contender("django", "Django: Model.objects.get() / a QuerySet (no identity map)")


@register("get_hit")
class GetHit(Case):
    """``Model.objects.get(pk=...)``: Django has no identity map, so every get queries."""

    def setup(self, sizes):
        super().setup(sizes)
        keys = list(Book.objects.values_list("pk", flat=True))
        self.keys = [keys[i % len(keys)] for i in range(sizes["query_calls"])]

    def ops(self):
        return self.sizes["query_calls"]

    def run(self):
        get = Book.objects.get
        self.found = [get(pk=pk) for pk in self.keys]

    def check(self):
        for pk, book in zip(self.keys, self.found, strict=True):
            expect(book.pk == pk and book.title == f"book {pk - 1}", f"get(pk={pk})")


@register("load")
class Load(Case):
    def run(self):
        self.books = list(Book.objects.all())

    def check(self):
        expect(len(self.books) == self.sizes["books"], f"{len(self.books)} books loaded")
        for book in measure.sample(self.books):
            expect(book.title == f"book {book.pk - 1}", f"book {book.pk}: title {book.title!r}")


@register("load", variant="instrumented")
class LoadInstrumented(Load):
    """The same QuerySet on the model class sessionorm has instrumented (``Book``, not
    its plain twin): what sessionorm's hooks cost Django code that uses no session."""

    def setup(self, sizes):
        super().setup(sizes)
        from sessionorm import Session

        with Session() as session:  # a model is instrumented when it first meets a session
            list(session.query(models.Book)[:1])

    def run(self):
        self.books = list(models.Book.objects.all())


@register("memory")
class Memory(Case):
    def run(self):
        self.metrics = measure.memory(lambda: list(Book.objects.all()), Book)
        return self.metrics

    def check(self):
        expect(self.metrics["objects"] == self.sizes["books"], "wrong number of books loaded")
