"""The lab's tables. One module per concern; importing this package registers them all."""
from .user import User, find_user, normalize_username
from .run import Run, Seat
from .world import Party, Product, StockMove, Transfer
from .event import Event
from .document import Document, DocumentLine
from .order import Order, Shipment
from .purchasing import Shortage, PurchaseOrder, InboundDelivery
from .b2b import Inquiry, Quote, Contract, PaymentReminder, Invoice, Membership, Certificate
from .returns import Return
from .content import Review, Notice
from .classroom import Classroom, Enrollment, Group, Assignment, Adjustment, Reflection
from .form import FormSubmission
from .upload import UploadReport
from .setting import Setting, self_registration_open
from .lti import LtiKey, LtiNonce, LtiPlatform, LtiUser

__all__ = [
    "User", "Run", "Seat", "Party", "Product", "StockMove", "Transfer", "Event", "Document",
    "DocumentLine", "Order", "Shipment", "Shortage", "PurchaseOrder", "InboundDelivery", "Inquiry",
    "Quote", "Contract", "PaymentReminder", "Invoice", "Membership", "Certificate", "Return",
    "Review", "Notice", "Classroom", "Enrollment", "Group", "Assignment", "Adjustment",
    "Reflection", "FormSubmission", "UploadReport", "Setting", "find_user", "normalize_username",
    "self_registration_open", "LtiPlatform", "LtiKey", "LtiNonce", "LtiUser",
]
