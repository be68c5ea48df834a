from .document import DataField, Document


class Return(Document):
    """退货单: requested → approved | rejected; approved → picked_up → received → refunded."""
    __mapper_args__ = {"polymorphic_identity": "return"}

    reject_reason = DataField(str)
