from .document import DataField, Document


class Review(Document):
    """评价 of a received order: data.rating 1–5, text."""
    __mapper_args__ = {"polymorphic_identity": "review"}

    rating = DataField(int, 0)


class Notice(Document):
    """公告 posted by the mall admin: data.title, text."""
    __mapper_args__ = {"polymorphic_identity": "notice"}

    title = DataField(str)
    injected = DataField(bool, False)  # dropped in by the instructor
