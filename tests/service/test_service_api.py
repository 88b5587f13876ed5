"""The REST API over raw HTTP: the documented curl body, resource shape, errors, list, cancel, delete."""

from __future__ import annotations

import json
import re

from google.cloud import bigquery, storage
from svc_helpers import (
    BAD_ROLE_STATUS,
    LOCATION,
    PROJECT,
    PROJECT_NUMBER,
    ServiceProcess,
    bq_body,
    call,
    gcs_output_lines,
    make_table,
    request_for,
    unique,
    upload_jsonl,
)

# The request body of the documented curl example, with its placeholders filled in verbatim
# (note that gcsSource.uris is a single string there).
SEED_BODY_TEMPLATE = """{
  "displayName": "my-cloud-storage-batch-prediction-job",
  "model": "MODEL_PATH",
  "inputConfig": {
    "instancesFormat": "jsonl",
    "gcsSource": {
      "uris" : "INPUT_URI"
    }
  },
  "outputConfig": {
    "predictionsFormat": "OUTPUT_FORMAT",
    "DESTINATION": {
      "OUTPUT_URI_FIELD_NAME": "OUTPUT_URI"
    }
  }
}"""
SEED_MEDIA_LINE = (
    '{"request":{"contents": [{"role": "user", "parts": [{"text": "What is the relation between the '
    'following video and image samples?"}, {"fileData": {"fileUri": '
    '"gs://cloud-samples-data/generative-ai/video/animals.mp4", "mimeType": "video/mp4"}}, {"fileData": '
    '{"fileUri": "gs://cloud-samples-data/generative-ai/image/cricket.jpeg", "mimeType": "image/jpeg"}}]}], '
    '"generationConfig": {"temperature": 0.9, "topP": 1, "maxOutputTokens": 256}}}'
)
#: proto3 JSON prints a Timestamp with 0, 3, 6 or 9 fractional digits.
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z$")


def seed_body(input_uri: str, output_uri: str, model: str = "publishers/google/models/gemini-3.5-flash") -> bytes:
    text = SEED_BODY_TEMPLATE
    for key, value in {
        "MODEL_PATH": model, "INPUT_URI": input_uri, "OUTPUT_FORMAT": "jsonl",
        "DESTINATION": "gcsDestination", "OUTPUT_URI_FIELD_NAME": "outputUriPrefix", "OUTPUT_URI": output_uri,
    }.items():  # fmt: skip
        text = text.replace(key, value)
    return text.encode()


def test_healthz(service: ServiceProcess) -> None:
    status, body = call("GET", f"{service.url}/healthz")
    assert status == 200 and body["status"] == "ok"


def test_documented_curl_body_runs_end_to_end(service: ServiceProcess, gcs: storage.Client, bucket: str) -> None:
    folder = unique("seed")
    lines = [
        SEED_MEDIA_LINE,
        {"request": request_for("Explain how AI works in a few words", role="tester")},
        {"request": request_for("Explain how AI works in a few words")},
        {"request": {"contents": [{"parts": [{"text": "no role on the only content"}]}]}},
    ]
    input_uri = upload_jsonl(gcs, bucket, f"{folder}/in.jsonl", lines)
    status, created = call("POST", service.jobs_url(), raw=seed_body(input_uri, f"gs://{bucket}/{folder}/out"))
    assert status == 200, created
    assert created["state"] == "JOB_STATE_PENDING"
    assert created["inputConfig"]["gcsSource"]["uris"] == [input_uri]
    assert re.fullmatch(
        rf"projects/{PROJECT_NUMBER}/locations/{LOCATION}/batchPredictionJobs/\d{{19}}", created["name"]
    )
    assert "completionStats" not in created and "error" not in created
    job = service.wait(created["name"])
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert job["completionStats"] == {"successfulCount": "2", "failedCount": "2"}
    assert job["outputInfo"]["gcsOutputDirectory"] == (
        f"gs://{bucket}/{folder}/out/prediction-model-{created['createTime']}"
    )
    for key in ("createTime", "startTime", "endTime", "updateTime"):
        assert RFC3339.match(job[key]), key
    # Output rows come in no particular order: match them to input lines by their request.
    requests = [(json.loads(line) if isinstance(line, str) else line)["request"] for line in lines]
    rows = sorted(gcs_output_lines(gcs, job), key=lambda row: requests.index(row["request"]))
    assert [list(row)[:4] for row in rows] == [["request", "response", "status", "processed_time"]] * 4
    media, bad_role, good, no_role = rows
    assert "text-only" in json.loads(media["status"].split(": ", 1)[1])["error"]["message"]
    assert media["response"] == {}
    assert bad_role["status"] == BAD_ROLE_STATUS and bad_role["response"] == {}
    for row in (good, no_role):
        assert row["status"] == ""
        candidate = row["response"]["candidates"][0]
        assert candidate["content"]["role"] == "model" and candidate["content"]["parts"][0]["text"]
        assert candidate["finishReason"] in ("STOP", "MAX_TOKENS")
        assert row["response"]["modelVersion"] == "gemini-3.5-flash@default"
        usage = row["response"]["usageMetadata"]
        # Gemini 3.5 Flash thinks by default (thinkingLevel HIGH): thoughts count towards the total.
        assert usage["thoughtsTokenCount"] > 0
        assert usage["totalTokenCount"] == (
            usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
        )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", good["processed_time"])


def test_project_id_and_number_name_the_same_project(
    service: ServiceProcess, bq: bigquery.Client, dataset: str
) -> None:
    table = make_table(bq, dataset, [{"id": 1, "request": request_for("hi")}])
    job = service.run(bq_body(table, f"bq://{PROJECT}.{dataset}"))
    job_id = job["name"].rsplit("/", 1)[1]
    for project in (PROJECT, PROJECT_NUMBER):
        for version in ("v1", "v1beta1"):
            status, body = call("GET", f"{service.jobs_url(version, project)}/{job_id}")
            assert status == 200 and body["name"] == job["name"]
    status, body = call("GET", f"{service.jobs_url('v1', 'another-project')}/{job_id}")
    assert status == 404 and body["error"]["status"] == "NOT_FOUND"


def test_int_enum_encoding(service: ServiceProcess, bq: bigquery.Client, dataset: str) -> None:
    table = make_table(bq, dataset, [{"id": 1, "request": request_for("hi")}])
    query = "?%24alt=json%3Benum-encoding%3Dint"
    status, created = call("POST", service.jobs_url() + query, bq_body(table, f"bq://{PROJECT}.{dataset}"))
    assert status == 200 and created["state"] == 2
    job = service.wait(created["name"])
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    _, as_int = call("GET", f"{service.url}/v1/{job['name']}{query}")
    assert as_int["state"] == 4
    _, listed = call("GET", service.jobs_url() + query)
    assert all(isinstance(item["state"], int) for item in listed["batchPredictionJobs"])
    _, listed = call("GET", service.jobs_url())
    assert all(isinstance(item["state"], str) for item in listed["batchPredictionJobs"])


def test_create_errors(service: ServiceProcess, bq: bigquery.Client, dataset: str, bucket: str) -> None:
    table = make_table(bq, dataset, [{"id": 1, "request": request_for("hi")}])
    body = bq_body(table, f"bq://{PROJECT}.{dataset}")
    status, error = service.create({**body, "model": "publishers/google/models/gemini-does-not-exist"})
    assert status == 404
    assert error == {
        "error": {"code": 404, "message": "The PublisherModel gemini-does-not-exist does not exist.",
                  "status": "NOT_FOUND"}
    }  # fmt: skip
    full_model = f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/gemini-3.5-flash"
    assert service.create({**body, "model": full_model})[0] == 200
    assert service.create({key: value for key, value in body.items() if key != "displayName"})[0] == 400
    assert service.create({**body, "inputConfig": {"instancesFormat": "jsonl"}})[0] == 400
    status, error = call("POST", service.jobs_url(), raw=b"{not json")
    assert status == 400 and error["error"]["status"] == "INVALID_ARGUMENT"
    # A missing bucket or dataset is not refused at create: the job fails later with code 9.
    status, created = service.create(
        {
            **body,
            "outputConfig": {
                "predictionsFormat": "jsonl",
                "gcsDestination": {"outputUriPrefix": "gs://no-such-bucket/x"},
            },
        }
    )
    assert status == 200 and service.wait(created["name"])["error"]["code"] == 9
    existing = make_table(bq, dataset, [])
    status, error = service.create(bq_body(table, existing))
    assert status == 400 and "already exists" in error["error"]["message"]
    status, created = service.create(bq_body(table, f"bq://{PROJECT}.no_such_dataset.t"))
    assert status == 200 and service.wait(created["name"])["error"]["code"] == 9


def unknown_name(name: str, path: str = "batch_prediction_job") -> str:
    return f"Invalid JSON payload received. Unknown name \"{name}\" at '{path}': Cannot find field."


def test_create_body_is_parsed_as_the_proto(service: ServiceProcess, bq: bigquery.Client, dataset: str) -> None:
    table = make_table(bq, dataset, [{"id": 1, "request": request_for("hi")}])
    body = bq_body(table, f"bq://{PROJECT}.{dataset}")
    for extra, message in [
        ({"foo": 1}, unknown_name("foo")),
        ({"inputConfig": {**body["inputConfig"], "gcs_sauce": {}}},
         unknown_name("gcs_sauce", "batch_prediction_job.input_config")),
        ({"displayName": 5}, "Invalid value at 'batch_prediction_job.display_name' (TYPE_STRING), 5"),
        ({"labels": [{"a": "b"}]}, "Invalid value at 'batch_prediction_job.labels'"),
    ]:  # fmt: skip
        status, error = service.create({**body, **extra})
        assert status == 400 and error["error"]["status"] == "INVALID_ARGUMENT", extra
        assert error["error"]["message"].startswith(message), error
    # snake_case names; output-only fields are ignored; modelVersionId is the service's.
    snake = {
        "display_name": "snake", "model": body["model"], "model_version_id": "7", "state": "JOB_STATE_FAILED",
        "input_config": {"instances_format": "bigquery", "bigquery_source": {"input_uri": table}},
        "output_config": {"predictions_format": "bigquery", "bigquery_destination": {"output_uri": f"bq://{PROJECT}.{dataset}"}},
        "model_parameters": {"x": 1},
    }  # fmt: skip
    status, created = service.create(snake)
    assert status == 200, created
    assert created["state"] == "JOB_STATE_PENDING" and created["modelVersionId"] == "1"
    assert created["displayName"] == "snake" and created["modelParameters"] == {"x": 1}
    assert created["inputConfig"] == {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": table}}


def test_create_refuses_what_vertex_refuses(service: ServiceProcess, bq: bigquery.Client, dataset: str) -> None:
    table = make_table(bq, dataset, [{"id": 1, "request": request_for("hi")}])
    body = bq_body(table, f"bq://{PROJECT}.{dataset}")
    bad_labels = [{"Team": "x"}, {"team": "X"}, {"_team": "x"}, {"a" * 64: "x"}, {"team": "a.b"},
                  {f"k{i}": "v" for i in range(65)}]  # fmt: skip
    for labels in bad_labels:
        status, error = service.create({**body, "labels": labels})
        assert status == 400 and "Label keys and values can only contain lowercase" in error["error"]["message"]
    good_labels = {"team": "", "équipe": "données", "1st": "a-b_c", "k" * 63: "v" * 63, "部署": "分析"}
    status, created = service.create({**body, "labels": good_labels})
    assert status == 200 and created["labels"] == good_labels
    for extra in [
        {"displayName": "x" * 129},
        {"serviceAccount": "sa@p.iam.gserviceaccount.com"},
        {"encryptionSpec": {"kmsKeyName": "projects/p/locations/l/keyRings/r/cryptoKeys/k"}},
        {"inputConfig": {"bigquerySource": {"inputUri": table}}},
        {"outputConfig": {"bigqueryDestination": {"outputUri": f"bq://{PROJECT}.{dataset}"}}},
    ]:
        status, error = service.create({**body, **extra})
        assert status == 400 and error["error"]["status"] == "INVALID_ARGUMENT", (extra, error)
    assert service.create({**body, "displayName": "x" * 128})[0] == 200


def test_over_limit_job_is_refused_at_create(service: ServiceProcess, bq: bigquery.Client, dataset: str) -> None:
    rows = [{"id": i, "request": request_for(f"q{i}")} for i in range(51)]
    table = make_table(bq, dataset, rows)
    status, error = service.create(bq_body(table, f"bq://{PROJECT}.{dataset}"))
    assert status == 400
    assert error["error"]["status"] == "INVALID_ARGUMENT"
    assert "51 requests, more than the limit of 50" in error["error"]["message"]


def test_not_found_and_unknown_paths(service: ServiceProcess) -> None:
    status, body = call("GET", f"{service.jobs_url()}/1234567890123456789")
    assert status == 404 and set(body["error"]) == {"code", "message", "status"}
    status, body = call("GET", f"{service.url}/v1/nothing/here")
    assert status == 404 and body["error"]["status"] == "NOT_FOUND"
    status, body = call("POST", f"{service.jobs_url()}/1234567890123456789:pause", {})
    assert status == 404
    # A method the path does not have is as unknown to the front end as a path.
    for method in ("PUT", "PATCH"):
        status, body = call(method, f"{service.jobs_url()}/1234567890123456789", {})
        assert status == 404 and body["error"]["status"] == "NOT_FOUND", method
    status, body = call("DELETE", service.jobs_url())
    assert status == 404


def test_query_parameters_bind_to_the_request_message(
    service: ServiceProcess, bq: bigquery.Client, dataset: str
) -> None:
    table = make_table(bq, dataset, [{"id": 1, "request": request_for("hi")}])
    job = service.run(bq_body(table, f"bq://{PROJECT}.{dataset}", name=unique("mask")))
    status, body = call("GET", f"{service.jobs_url()}?readMask=displayName,state,outputInfo.bigqueryOutputTable"
                        f"&filter=display_name%3D%22{job['displayName']}%22")  # fmt: skip
    assert status == 200, body
    assert body["batchPredictionJobs"] == [
        {"displayName": job["displayName"], "state": "JOB_STATE_SUCCEEDED",
         "outputInfo": {"bigqueryOutputTable": job["outputInfo"]["bigqueryOutputTable"]}}
    ]  # fmt: skip
    status, body = call("GET", f"{service.jobs_url()}?read_mask=display_name&page_size=1")
    assert status == 200 and set(body["batchPredictionJobs"][0]) == {"displayName"}
    status, error = call("GET", f"{service.jobs_url()}?readMask=nope")
    assert status == 400
    # GetBatchPredictionJobRequest has only `name`: other query parameters cannot bind.
    status, error = call("GET", f"{service.url}/v1/{job['name']}?readMask=state")
    assert status == 400
    assert error["error"]["message"] == (
        'Invalid JSON payload received. Unknown name "readMask": Cannot bind query parameter. '
        "Field 'readMask' could not be found in request message."
    )
    assert call("GET", f"{service.jobs_url()}?orderBy=create_time")[0] == 400
    assert call("GET", f"{service.url}/v1/{job['name']}?%24alt=json%3Benum-encoding%3Dint&prettyPrint=false")[0] == 200
    status, error = call("POST", f"{service.url}/v1/{job['name']}:cancel", {"force": True})
    assert status == 400 and 'Unknown name "force"' in error["error"]["message"]


def test_cancel_and_delete_finished_job(service: ServiceProcess, bq: bigquery.Client, dataset: str) -> None:
    table = make_table(bq, dataset, [{"id": 1, "request": request_for("hi")}])
    job = service.run(bq_body(table, f"bq://{PROJECT}.{dataset}"))
    status, error = call("POST", f"{service.url}/v1/{job['name']}:cancel", {})
    assert status == 400 and error["error"]["status"] == "FAILED_PRECONDITION"
    status, operation = call("DELETE", f"{service.url}/v1/{job['name']}")
    assert status == 200
    assert operation["done"] is True
    assert operation["response"] == {"@type": "type.googleapis.com/google.protobuf.Empty"}
    assert operation["metadata"]["@type"] == "type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata"
    assert "createTime" in operation["metadata"]["genericMetadata"]
    assert re.fullmatch(rf"projects/{PROJECT_NUMBER}/locations/{LOCATION}/operations/\d+", operation["name"])
    op_id = operation["name"].rsplit("/", 1)[1]
    for path in (
        f"/v1/{operation['name']}",
        f"/v1/{job['name']}/operations/{op_id}",
        f"/ui/projects/{PROJECT_NUMBER}/locations/{LOCATION}/operations/{op_id}",
    ):
        assert call("GET", service.url + path) == (200, operation), path
    assert call("GET", f"{service.url}/v1/{job['name']}")[0] == 404


def test_list_filters_pages_and_order(service: ServiceProcess, bq: bigquery.Client, dataset: str) -> None:
    location_url = f"{service.url}/v1/projects/{PROJECT}/locations/europe-west4/batchPredictionJobs"
    assert call("GET", location_url) == (200, {})
    regional = bigquery.Dataset(f"{PROJECT}.service_tests_europe_west4")
    regional.location = "europe-west4"  # a job's datasets must be in its region
    bq.create_dataset(regional, exists_ok=True)
    table = make_table(bq, regional.dataset_id, [{"id": 1, "request": request_for("hi")}])
    tag = unique("list").replace("_", "-")
    names = []
    for index in range(3):
        body = bq_body(
            table, f"bq://{PROJECT}.{regional.dataset_id}", name=f"{tag}_{index}", labels={"tag": tag, "n": str(index)}
        )
        status, created = call("POST", location_url, body)
        assert status == 200, created
        names.append(created["name"])
    for name in names:
        service.wait(name)

    def listed(query: str) -> list[str]:
        status, body = call("GET", f"{location_url}?{query}")
        assert status == 200, body
        return [job["name"] for job in body.get("batchPredictionJobs", [])]

    assert listed("") == names[::-1]
    from urllib.parse import quote

    assert listed("filter=" + quote(f'display_name="{tag}_1"')) == [names[1]]
    assert listed("filter=" + quote(f'display_name:"{tag}_*" AND labels.n!="1"')) == [names[2], names[0]]
    assert listed("filter=" + quote('state="JOB_STATE_SUCCEEDED" AND labels.tag:*')) == names[::-1]
    assert listed("filter=" + quote('state="JOB_STATE_FAILED"')) == []
    assert listed("filter=" + quote('model_display_name="gemini-3.5-flash"')) == names[::-1]
    _, first = call("GET", location_url)
    created = first["batchPredictionJobs"][-1]["createTime"]
    assert listed("filter=" + quote(f'create_time>"{created}"')) == names[:0:-1]
    assert listed("filter=" + quote(f'create_time>="{created}"')) == names[::-1]
    status, error = call("GET", f"{location_url}?filter=" + quote('nope="x"'))
    assert status == 400 and "Invalid filter" in error["error"]["message"]
    _, page1 = call("GET", f"{location_url}?pageSize=2")
    assert [job["name"] for job in page1["batchPredictionJobs"]] == names[:0:-1]
    _, page2 = call("GET", f"{location_url}?pageSize=2&pageToken={page1['nextPageToken']}")
    assert [job["name"] for job in page2["batchPredictionJobs"]] == [names[0]]
    assert "nextPageToken" not in page2
