from django.urls import path
from shop import views

urlpatterns = [
    path("", views.home, name="home"),
    path("orders", views.create_order, name="create_order"),
    path("orders/<str:out_order_id>", views.show_order, name="order"),
]
