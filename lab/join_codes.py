"""Class join codes: long enough that guessing one is hopeless, easy to read aloud and type.

A code is 10 characters from 31 that cannot be mistaken for one another (no 0/O, 1/I/L):
31^10 ≈ 8·10^14 codes, so even at the rate limit's 20 tries a minute from each of a thousand
addresses, finding one of a hundred classes' codes takes about 800 years on average. It is shown
in two groups (`ABCDE-FGHJK`); students may type it in any case, with or without the dash or
spaces, in full-width characters too. Instructors rotate a code that leaked."""
import secrets
import unicodedata

from sqlalchemy import select

from .extensions import db
from .models import Classroom

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 10


def new_join_code() -> str:
    """A fresh random code no class has."""
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        if db.session.scalar(select(Classroom.id).where(Classroom.join_code == code)) is None:
            return code


def typed_forms(raw: str) -> set[str]:
    """What a typed code may be stored as: as typed (trimmed, upper case; codes made before
    this rule may hold a dash) and without its dashes and spaces (the way codes are made)."""
    typed = unicodedata.normalize("NFKC", raw or "").strip().upper()
    compact = "".join(ch for ch in typed if ch not in "- \t")
    return {form for form in (typed, compact) if form and len(form) <= 16}


def classroom_by_code(raw: str) -> Classroom | None:
    forms = typed_forms(raw)
    return db.session.scalar(select(Classroom).where(Classroom.join_code.in_(forms))
                             .order_by(Classroom.id).limit(1)) if forms else None


def shown(code: str) -> str:
    """A code as people read it: `ABCDE-FGHJK` (codes of another length as they are)."""
    half = LENGTH // 2
    return f"{code[:half]}-{code[half:]}" if len(code) == LENGTH and "-" not in code else code


def rotate(classroom: Classroom) -> str:
    """Give a class a new code (the old one stops working at once); students already in the
    class stay. Flushes (the request commits); returns the new code."""
    classroom.join_code = new_join_code()
    db.session.flush()
    return classroom.join_code
