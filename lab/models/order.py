from .document import DataField, Document

# Order states. B2C: placed → accepted → shipped → delivered → received.
# B2B adds the contract: placed → [accepted] → contracted → signed → shipped → …
# Payment is its own column: unpaid → paid → confirmed; refunded after a full refund.


class Order(Document):
    """订单. data: payment_method (bank_transfer|escrow|cash_on_delivery), delivery_date,
    escrow_held (cents still held by the escrow account), reviewed, reminded, invoiced."""
    __mapper_args__ = {"polymorphic_identity": "order"}

    payment_method = DataField(str, "bank_transfer")
    delivery_date = DataField(str)  # ISO date, or None
    escrow_held = DataField(int, 0)
    refunded_cents = DataField(int, 0)  # refunded so far (returns)
    reviewed = DataField(bool, False)
    reminded = DataField(bool, False)
    invoiced = DataField(bool, False)


class Shipment(Document):
    """发货单 / 运单: goods leaving the warehouse for the buyer; logistics delivers it."""
    __mapper_args__ = {"polymorphic_identity": "shipment"}
