from django.urls import reverse


def test_it_shows_the_chart_to_the_therapist(login, tess, avery, audit_rows):
    response = login(tess).get(reverse("clients:chart", args=[avery.pk]))
    assert response.status_code == 200
    assert b"Avery Alvarez" in response.content
    assert audit_rows("kapflow.clients.chart.viewed")[0].client == avery
