"""A small library (publishers, authors, books, reviews) that shows sessionorm in
a Django project: views on ``request.dbsession``, an admin that saves through the
request's Session, and the ``demo_data`` command."""
