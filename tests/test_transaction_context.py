"""`with session.begin():` and `with factory.begin() as s:` commit on success, roll back on error."""
import pytest
from sessionorm import Session, sessionmaker, inspect
from tests.testapp.models import Author
pytestmark = pytest.mark.django_db

def test_begin_block_commits_on_success_and_rolls_back_on_error():
    s = Session()
    with s.begin():
        a = Author(name="x"); s.add(a)
    assert Author.objects.filter(name="x").exists()
    assert not s.in_transaction()
    with pytest.raises(ZeroDivisionError):
        with s.begin():
            b = Author(name="y"); s.add(b); s.flush()
            1/0
    assert not Author.objects.filter(name="y").exists()
    assert inspect(b).transient and b.pk is None
    with sessionmaker().begin() as s2:
        s2.add(Author(name="z"))
    assert Author.objects.filter(name="z").exists()
