from .document import Document


class Review(Document):
    """评价 of a received order: data.rating 1–5, text."""
    __mapper_args__ = {"polymorphic_identity": "review"}


class Notice(Document):
    """公告 posted by the mall admin: data.title, text."""
    __mapper_args__ = {"polymorphic_identity": "notice"}
