from .document import DataField, Document


class Inquiry(Document):
    """询价单: a B2B buyer asks for a price (product, qty). sent → quoted."""
    __mapper_args__ = {"polymorphic_identity": "inquiry"}


class Quote(Document):
    """报价单: the supplier's unit price for an inquiry. offered → accepted."""
    __mapper_args__ = {"polymorphic_identity": "quote"}

    price_cents = DataField(int)


class Contract(Document):
    """合同 issued from an order in EDI. issued → signed. data: terms, delivery_date, canonical
    text digest; the buyer's signature and certificate serial once signed."""
    __mapper_args__ = {"polymorphic_identity": "contract"}

    seller = DataField(str)  # the parties' names (zh) as the contract states them
    buyer = DataField(str)
    payment_method = DataField(str)
    delivery_date = DataField(str)
    signature = DataField(str)  # once signed: the buyer's signature (base64),
    certificate = DataField(str)  # the number of the certificate it was made with,
    fingerprint = DataField(str)  # and that certificate's fingerprint


class PaymentReminder(Document):
    """催款单 sent by the warehouse to a B2B buyer who has not paid yet."""
    __mapper_args__ = {"polymorphic_identity": "payment_reminder"}


class Invoice(Document):
    """发票: lines, tax and a total that matches the order. issued → checked (on receipt)."""
    __mapper_args__ = {"polymorphic_identity": "invoice"}

    net_cents = DataField(int)
    tax_cents = DataField(int)
    tax_rate = DataField(int)  # percent
    seller = DataField(str)
    buyer = DataField(str)


class Membership(Document):
    """会员 application of a B2B buyer company to the marketplace. applied → approved."""
    __mapper_args__ = {"polymorphic_identity": "membership"}


class Certificate(Document):
    """证书 from the CA (认证中心): requested (key pair made, private key sealed with the
    party's password) → issued (the CA signed the public key)."""
    __mapper_args__ = {"polymorphic_identity": "certificate"}

    fingerprint = DataField(str)
    public_key = DataField(str)  # PEM
    private_key = DataField(str)  # PEM, sealed with the holder's password
    escrowed_key = DataField(str)  # the CA's sealed copy (a student's certificate)
    ca_signature = DataField(str)  # the CA's signature over the public key, once issued
