from .document import Document


class Shortage(Document):
    """缺货单: sales forwards the missing quantity of one product of an order to purchasing.
    States: open → ordered → filled; a rejected purchase order reopens it."""
    __mapper_args__ = {"polymorphic_identity": "shortage"}


class PurchaseOrder(Document):
    """采购单 to a vendor (party_key). States: submitted → approved | rejected;
    approved → delivered (logistics brought the goods) → received (warehouse counted them)."""
    __mapper_args__ = {"polymorphic_identity": "purchase_order"}

    @property
    def vendor(self) -> str | None:
        """The vendor's key (party_key without "vendor:")."""
        key = self.party_key or ""
        return key.removeprefix("vendor:") if key.startswith("vendor:") else None


class InboundDelivery(Document):
    """入库单: goods logistics brought in, waiting for the warehouse. arrived → received."""
    __mapper_args__ = {"polymorphic_identity": "inbound"}
