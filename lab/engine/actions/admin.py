"""The mall admin's actions: products and notices."""
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ...extensions import db
from ...models import Notice, Product
from ..registry import Field, register


@register("publish_product", "mall_admin", None, label=_l("Publish product"),
          inputs=(Field("sku", max_length=64), Field("name", max_length=200),
                  Field("price", "money"), Field("stock", "int", minimum=0),
                  Field("cost", "money", required=False),
                  Field("vendor", "vendor", required=False)))
def publish_product(ctx):
    v = ctx.values
    product = db.session.scalar(select(Product).where(Product.run_id == ctx.run.id,
                                                      Product.sku == v["sku"]))
    if product is None:
        product = Product(run_id=ctx.run.id, sku=v["sku"], name=v["name"], stock=0,
                          price_cents=v["price"], cost_cents=v.get("cost") or 0,
                          vendor_key=_vendor(v.get("vendor")))
        db.session.add(product)
        db.session.flush()
    else:
        product.name, product.price_cents, product.published = v["name"], v["price"], True
        if v.get("cost") is not None:
            product.cost_cents = v["cost"]
        if v.get("vendor"):
            product.vendor_key = _vendor(v["vendor"])
    if v["stock"]:
        ctx.stock(product, v["stock"], "publish")
    return {"sku": product.sku, "price": v["price"] / 100, "stock": v["stock"]}


def _vendor(key):
    if not key:
        return None
    return key if key.startswith("vendor:") else f"vendor:{key}"


@register("post_notice", "mall_admin", None, label=_l("Post notice"),
          inputs=(Field("title", max_length=200), Field("body", max_length=4000)))
def post_notice(ctx):
    notice = ctx.new_document(Notice, state="posted", text=ctx.values["body"],
                              data={"title": ctx.values["title"]})
    return {"title": ctx.values["title"], "notice": notice.number}
