"""The stock pages (docs/stock-ledger.md), mounted at /controlled/."""

from django.urls import path

from kapflow.controlled import stock_views

app_name = "controlled"

urlpatterns = [
    path("", stock_views.stock_list, name="stock"),
    path("receive/", stock_views.receipt, name="receipt"),
    path("lots/<int:lot_id>/", stock_views.lot_detail, name="lot"),
    path("lots/<int:lot_id>/transfer/", stock_views.transfer, name="transfer"),
    path("lots/<int:lot_id>/return/", stock_views.supplier_return, name="return"),
    path("lots/<int:lot_id>/destroy/", stock_views.destruction, name="destruction"),
    path("lots/<int:lot_id>/entries/<int:entry_id>/reverse/", stock_views.correction, name="correction"),
    path("lots/<int:lot_id>/entries/<int:entry_id>/repost/", stock_views.dose_repost, name="dose_repost"),
]
