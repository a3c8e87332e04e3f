"""sessionorm: SQLAlchemy's ORM Session (unit of work, identity map, object
lifecycle, transaction stack) for Django models."""
