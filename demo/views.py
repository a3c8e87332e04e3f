"""The demo's pages. Each one works on ``request.dbsession`` only: objects are
added, changed or deleted in memory, and SessionMiddleware commits them when the
view returns a successful response (or rolls back on an error).

Pages that write call ``flush()`` themselves, inside :func:`recording_statements`,
only to show the SQL the flush sends; without that call the middleware's commit
would flush the same statements.
"""

import re
from collections import defaultdict
from contextlib import contextmanager

from django.db import connections
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from demo.forms import AuthorWithBooksForm
from demo.models import Author, Book, Publisher, Review

# BEGIN / SAVEPOINT / RELEASE / ROLLBACK TO: how the transaction is driven, not
# what the flush writes; left out of the statements shown.
_TRANSACTION_CONTROL = re.compile(
    r"\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE\s+SAVEPOINT)\b", re.IGNORECASE
)


@contextmanager
def recording_statements(session, model):
    """Collect, into the yielded list, the SQL sent on ``model``'s database
    while the block runs (transaction control left out)."""
    statements = []

    def record(execute, sql, params, many, context):
        if not _TRANSACTION_CONTROL.match(sql):
            statements.append(sql)
        return execute(sql, params, many, context)

    with connections[session.get_bind(model)].execute_wrapper(record):
        yield statements


def _count(number, noun):
    """``1 book``, ``3 books``: plain English plurals, enough for this demo."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _flush_result(request, title, summary, statements):
    return render(
        request,
        "demo/flush_result.html",
        {"title": title, "summary": summary, "statements": statements},
    )


def index(request):
    """Authors with their books, loaded in two queries through the session."""
    session = request.dbsession
    authors = list(session.query(Author).select_related("publisher"))
    books_by_author = defaultdict(list)
    # select_related("author") builds an Author per row, yet the identity map
    # hands back the very objects already listed above.
    books = list(session.query(Book).select_related("author"))
    for book in books:
        books_by_author[book.author_id].append(book)
    listed = {id(author) for author in authors}
    shared = sum(1 for book in books if id(book.author) in listed)
    return render(
        request,
        "demo/index.html",
        {
            "rows": [(author, books_by_author[author.pk]) for author in authors],
            "book_count": len(books),
            "shared": shared,
        },
    )


@require_http_methods(["GET", "POST"])
def add_author(request):
    """Add an author with several books in one POST and one flush."""
    session = request.dbsession
    publishers = list(session.query(Publisher))
    form = AuthorWithBooksForm(request.POST or None, publishers=publishers)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        publisher = session.get(Publisher, data["publisher"]) if data["publisher"] else None
        author = Author(name=data["name"], publisher=publisher)
        # The books point at a pending author: the flush inserts the author
        # first and copies its new key into each book's author_id.
        books = [Book(title=title, pages=pages, author=author) for title, pages in data["books"]]
        session.add_all([author, *books])
        with recording_statements(session, Author) as statements:
            session.flush()
        return _flush_result(
            request,
            f"Added {author.name}",
            f"1 author and {_count(len(books), 'book')} written by "
            f"{_count(len(statements), 'SQL statement')}; the middleware commits them "
            f"as this page is returned.",
            statements,
        )
    return render(request, "demo/author_form.html", {"form": form})


@require_http_methods(["GET", "POST"])
def bulk_pages(request):
    """Edit many books' page counts; the flush batches the UPDATEs."""
    session = request.dbsession
    books = list(session.query(Book).select_related("author"))
    if request.method == "POST":
        bump = "bump" in request.POST
        for book in books:
            if bump:
                book.pages += 10
                continue
            value = request.POST.get(f"pages-{book.pk}", "").strip()
            if value.isdigit() and int(value) != book.pages:
                book.pages = int(value)
        changed = len(session.dirty)
        with recording_statements(session, Book) as statements:
            session.flush()
        return _flush_result(
            request,
            "Page counts saved",
            f"{_count(changed, 'book')} changed; the flush sent "
            f"{_count(len(statements), 'SQL statement')} for them, not one per book.",
            statements,
        )
    return render(request, "demo/bulk_pages.html", {"books": books})


@require_http_methods(["GET", "POST"])
def delete_author(request, pk):
    """Delete an author; Django's CASCADE rules remove their books and reviews."""
    session = request.dbsession
    author = session.get(Author, pk)
    if author is None:
        raise Http404(f"No author with id {pk}.")
    if request.method == "POST":
        name = author.name
        session.delete(author)
        with recording_statements(session, Author) as statements:
            session.flush()
        return _flush_result(
            request,
            f"Deleted {name}",
            f"The flush sent {_count(len(statements), 'SQL statement')}: reviews and "
            f"books first, then the author.",
            statements,
        )
    books = session.query(Book).filter(author=author).count()
    reviews = session.query(Review).filter(book__author=author).count()
    return render(
        request,
        "demo/author_delete.html",
        {"author": author, "books": books, "reviews": reviews},
    )


def dry_run(request):
    """What will this request write? Make changes, show the session's pending
    work and the SQL its flush sends, then roll everything back."""
    session = request.dbsession
    author = session.query(Author).first()
    if author is None:
        return render(request, "demo/dry_run.html", {"empty": True})
    # Load everything first: a query autoflushes, which would write the changes
    # below before the page could show them as pending.
    review = session.query(Review).filter(book__author=author).first()
    author.name = f"{author.name} (revised)"
    newcomer = Author(name="A. Newcomer", publisher_id=author.publisher_id)
    session.add(Book(title="An Unwritten Book", pages=123, author=newcomer))
    if review is not None:
        session.delete(review)
    pending = {
        "new": sorted(map(repr, session.new)),
        "dirty": sorted(map(repr, session.dirty)),
        "deleted": sorted(map(repr, session.deleted)),
    }
    with recording_statements(session, Author) as statements:
        session.flush()
    session.rollback()
    return render(
        request,
        "demo/dry_run.html",
        {
            "pending": pending,
            "statements": statements,
            "rolled_back_name": author.name,
            "index_url": reverse("demo:index"),
        },
    )
