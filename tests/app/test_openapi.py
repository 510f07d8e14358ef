"""The OpenAPI document states the limits the instance enforces (they are settings) and the
refusals every model endpoint may give, so that a client keeping to it is never surprised."""

from __future__ import annotations

from tests.app.helpers import serve


def integer_branch(schema: dict) -> dict:
    return next(b for b in schema.get("anyOf", [schema]) if b.get("type") == "integer")


def test_the_document_carries_the_settings_limits(model_dir):
    with serve(model_dir, k_max=7, max_words_max=2, max_text_chars=300,
               max_next_chars=40) as c:
        spec = c.get("/openapi.json").json()
        schemas = spec["components"]["schemas"]
        complete = schemas["CompleteRequest"]["properties"]
        assert integer_branch(complete["k"]) == {"type": "integer", "minimum": 1, "maximum": 7}
        assert integer_branch(complete["max_words"])["maximum"] == 2
        query = {p["name"]: p["schema"] for p in spec["paths"]["/complete"]["get"]["parameters"]}
        assert integer_branch(query["k"])["maximum"] == 7
        assert integer_branch(query["max_words"])["maximum"] == 2
        suggest = {p["name"]: p["schema"] for p in spec["paths"]["/suggest"]["get"]["parameters"]}
        assert integer_branch(suggest["k"])["maximum"] == 7
        assert integer_branch(suggest["max_words"])["maximum"] == 2
        assert suggest["q"]["maxLength"] == 300  # every suggestion repeats the query
        probability = schemas["ProbabilityRequest"]["properties"]
        assert probability["text"]["maxLength"] == 300
        assert {"type": "string", "maxLength": 40} in probability["next"]["anyOf"]
        assert probability["next"]["pattern"]  # at least one character that is not a space
        # and the limits are the ones enforced
        assert c.post("/complete", json={"text": "a", "k": 7}).status_code == 200
        assert c.post("/complete", json={"text": "a", "k": 8}).status_code == 422
        assert c.post("/probability", json={"text": "a" * 301}).status_code == 422
        assert c.post("/probability", json={"text": "a", "next": "b" * 40}).status_code == 200
        assert c.post("/probability", json={"text": "a", "next": "b" * 41}).status_code == 422
        assert c.get("/suggest", params={"q": "a" * 300, "k": 7}).status_code == 200
        assert c.get("/suggest", params={"q": "a" * 301}).status_code == 422
        assert c.get("/suggest", params={"q": "a", "max_words": 3}).status_code == 422


def test_every_model_endpoint_documents_its_refusals(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path, method in [("/complete", "post"), ("/complete", "get"), ("/suggest", "get"),
                         ("/probability", "post")]:
        responses = paths[path][method]["responses"]
        assert {"200", "400", "413", "422", "503"} <= set(responses), (path, method)
        assert "Retry-After" in responses["503"]["headers"]
