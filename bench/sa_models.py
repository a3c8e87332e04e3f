"""SQLAlchemy 2.x declarative models of the tables Django built from ``bench.models``.

The same tables, columns and keys; the relationships carry Django's ``CASCADE`` as
SQLAlchemy's ``cascade="all"``, so deleting a book through the ORM Session deletes its
reviews and tags, as ``Model.delete()`` and sessionorm do (and pays for finding them).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "bench_author"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(200))
    books: Mapped[list[Book]] = relationship(back_populates="author", cascade="all")


class Book(Base):
    __tablename__ = "bench_book"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    pages: Mapped[int] = mapped_column(Integer)
    published: Mapped[date] = mapped_column(Date)
    author_id: Mapped[int] = mapped_column(ForeignKey("bench_author.id"))
    author: Mapped[Author] = relationship(back_populates="books")
    reviews: Mapped[list[Review]] = relationship(back_populates="book", cascade="all")
    tags: Mapped[list[Tag]] = relationship(back_populates="book", cascade="all")


class Review(Base):
    __tablename__ = "bench_review"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("bench_book.id"))
    stars: Mapped[int] = mapped_column(Integer)
    book: Mapped[Book] = relationship(back_populates="reviews")


class Tag(Base):
    __tablename__ = "bench_tag"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("bench_book.id"))
    name: Mapped[str] = mapped_column(String(50))
    book: Mapped[Book] = relationship(back_populates="tags")
