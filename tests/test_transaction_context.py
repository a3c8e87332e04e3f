"""`with session.begin():` and `with factory.begin() as s:` commit or roll back."""

import pytest

from sessionorm import Session, inspect, sessionmaker
from tests.testapp.models import Author

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


def test_begin_block_commits_on_success_and_rolls_back_on_error():
    session = Session()
    with session.begin():
        session.add(Author(name="x"))
    assert Author.objects.filter(name="x").exists()
    assert not session.in_transaction()

    failed = Author(name="y")
    with pytest.raises(Boom), session.begin():
        session.add(failed)
        session.flush()
        raise Boom
    assert not Author.objects.filter(name="y").exists()
    assert inspect(failed).transient and failed.pk is None

    with sessionmaker().begin() as other:
        other.add(Author(name="z"))
    assert Author.objects.filter(name="z").exists()
