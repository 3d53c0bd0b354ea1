//! The Strimzi manifests of deploy/kubernetes against the vendored CRDs (deploy/kubernetes/crds):
//! each resource's `apiVersion` is a served version of its kind's CRD, and the resource
//! validates against that version's `openAPIV3Schema` (as a JSON Schema, with unknown fields
//! refused where the API server would prune them). Then what the fleet relies on: KRaft node
//! pool of 3, TLS listeners with mutual TLS, the four topics replicated 3 with
//! min.insync.replicas 2 and zstd, a produce-only user, MirrorMaker 2 for DR.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

fn kube_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

/// Every YAML document of every `*.yaml` file directly in `dir`, as JSON, with its file name.
fn documents(dir: &Path) -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for doc in serde_norway::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("{name}: not YAML: {e}"));
            if !v.is_null() {
                out.push((name.clone(), v));
            }
        }
    }
    out
}

/// The vendored CRDs by (group, kind).
fn crds() -> BTreeMap<(String, String), Value> {
    documents(&kube_dir().join("crds"))
        .into_iter()
        .filter(|(_, d)| d["kind"] == "CustomResourceDefinition")
        .map(|(_, d)| {
            let key = (
                d["spec"]["group"].as_str().unwrap().to_string(),
                d["spec"]["names"]["kind"].as_str().unwrap().to_string(),
            );
            (key, d)
        })
        .collect()
}

/// Make an OpenAPI v3 structural schema refuse what the API server would prune: every object
/// schema with `properties`, no `additionalProperties` and no
/// `x-kubernetes-preserve-unknown-fields` gets `additionalProperties: false`. The branches of
/// `oneOf`/`anyOf`/`allOf`/`not` are value validations, not structure (Kubernetes prunes by
/// the enclosing schema's `properties`), so they are left as they are.
fn strict(schema: &mut Value) {
    match schema {
        Value::Object(m) => {
            let preserve = m
                .get("x-kubernetes-preserve-unknown-fields")
                .is_some_and(|v| v == true);
            if m.contains_key("properties") && !m.contains_key("additionalProperties") && !preserve
            {
                m.insert("additionalProperties".into(), Value::Bool(false));
            }
            for (k, v) in m.iter_mut() {
                if !matches!(k.as_str(), "oneOf" | "anyOf" | "allOf" | "not") {
                    strict(v);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strict),
        _ => {}
    }
}

/// Validation errors of `doc` against its CRD (empty: valid).
fn validate(crds: &BTreeMap<(String, String), Value>, doc: &Value) -> Vec<String> {
    let api = doc["apiVersion"].as_str().expect("apiVersion");
    let (group, version) = api.split_once('/').expect("group/version");
    let kind = doc["kind"].as_str().expect("kind");
    let Some(crd) = crds.get(&(group.to_string(), kind.to_string())) else {
        return vec![format!("no vendored CRD for {group} {kind}")];
    };
    let Some(v) = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == version)
    else {
        return vec![format!("{kind}: version {version} not in the CRD")];
    };
    if v["served"] != true {
        return vec![format!("{kind}: version {version} is not served")];
    }
    let mut schema = v["schema"]["openAPIV3Schema"].clone();
    strict(&mut schema);
    // metadata is the API server's (ObjectMeta), not the CRD's: check what the manifests use.
    schema["properties"]["metadata"] = json!({
        "type": "object",
        "required": ["name"],
        "additionalProperties": false,
        "properties": {
            "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253},
            "namespace": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}}
        }
    });
    let validator = jsonschema::validator_for(&schema).expect("CRD schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("{kind}: {} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn every_manifest_validates_against_its_served_crd_version() {
    let crds = crds();
    assert_eq!(crds.len(), 5, "vendored CRDs: {:?}", crds.keys());
    let docs = documents(&kube_dir());
    assert!(docs.len() >= 9, "{} manifests", docs.len());
    for (file, doc) in &docs {
        assert_eq!(doc["apiVersion"], "kafka.strimzi.io/v1", "{file}");
        let errors = validate(&crds, doc);
        assert!(errors.is_empty(), "{file}: {errors:#?}");
    }
}

#[test]
fn validation_catches_mistakes() {
    let crds = crds();
    let docs = documents(&kube_dir());
    let topic = docs
        .iter()
        .find(|(_, d)| d["kind"] == "KafkaTopic")
        .unwrap()
        .1
        .clone();
    assert!(validate(&crds, &topic).is_empty());
    let mut bad = topic.clone();
    bad["spec"]["partitions"] = json!(0);
    assert!(!validate(&crds, &bad).is_empty(), "partitions 0 accepted");
    let mut bad = topic.clone();
    bad["spec"]["replicationFactor"] = json!(3);
    assert!(!validate(&crds, &bad).is_empty(), "unknown field accepted");
    let mut bad = topic.clone();
    bad["apiVersion"] = json!("kafka.strimzi.io/v1beta2");
    assert!(
        !validate(&crds, &bad).is_empty(),
        "unvendored version accepted"
    );
    let mut bad = topic;
    bad["kind"] = json!("KafkaBridge");
    assert!(!validate(&crds, &bad).is_empty(), "unknown kind accepted");
    let user = docs
        .iter()
        .find(|(_, d)| d["kind"] == "KafkaUser")
        .unwrap()
        .1
        .clone();
    let mut bad = user;
    bad["spec"]["authorization"]["acls"][0]["operations"] = json!(["Produce"]);
    assert!(
        !validate(&crds, &bad).is_empty(),
        "unknown ACL operation accepted"
    );
}

fn of_kind<'a>(docs: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    docs.iter()
        .filter(|(_, d)| d["kind"] == kind)
        .map(|(_, d)| d)
        .collect()
}

#[test]
fn the_cluster_is_what_the_fleet_needs() {
    let docs = documents(&kube_dir());
    let cluster = "linerate-kafka";

    let pools = of_kind(&docs, "KafkaNodePool");
    assert_eq!(pools.len(), 1);
    assert_eq!(pools[0]["spec"]["replicas"], 3);
    assert_eq!(
        pools[0]["metadata"]["labels"]["strimzi.io/cluster"],
        cluster
    );
    let roles = pools[0]["spec"]["roles"].as_array().unwrap();
    assert!(roles.contains(&json!("controller")) && roles.contains(&json!("broker")));

    let kafka = of_kind(&docs, "Kafka");
    assert_eq!(kafka.len(), 1);
    assert_eq!(kafka[0]["metadata"]["name"], cluster);
    let listeners = kafka[0]["spec"]["kafka"]["listeners"].as_array().unwrap();
    assert!(!listeners.is_empty());
    for l in listeners {
        assert_eq!(l["tls"], true, "{l}");
        assert_eq!(l["authentication"]["type"], "tls", "{l}");
    }
    assert!(kafka[0]["spec"].get("zookeeper").is_none());

    let topics = of_kind(&docs, "KafkaTopic");
    let mut names: Vec<&str> = topics
        .iter()
        .map(|t| t["spec"]["topicName"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "logs.deadletter",
            "logs.enriched",
            "logs.normalized",
            "logs.raw"
        ]
    );
    for t in &topics {
        let s = &t["spec"];
        assert_eq!(t["metadata"]["labels"]["strimzi.io/cluster"], cluster);
        assert_eq!(s["replicas"], 3, "{t}");
        assert_eq!(s["config"]["min.insync.replicas"], 2, "{t}");
        assert_eq!(s["config"]["compression.type"], "zstd", "{t}");
        assert!(s["config"]["retention.ms"].as_u64().unwrap() > 0, "{t}");
        assert!(s["partitions"].as_u64().unwrap() >= 6, "{t}");
    }

    // The appliances' user: produce (idempotently) to those four topics, nothing else.
    let users = of_kind(&docs, "KafkaUser");
    let appliance = users
        .iter()
        .find(|u| u["metadata"]["name"] == "linerate-appliance")
        .expect("KafkaUser linerate-appliance");
    assert_eq!(appliance["spec"]["authentication"]["type"], "tls");
    let mut topics_granted = Vec::new();
    for acl in appliance["spec"]["authorization"]["acls"]
        .as_array()
        .unwrap()
    {
        assert_ne!(acl["type"], "deny");
        let ops: Vec<&str> = acl["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap())
            .collect();
        match acl["resource"]["type"].as_str().unwrap() {
            "topic" => {
                assert_eq!(acl["resource"]["patternType"], "literal", "{acl}");
                assert_eq!(ops, ["Write", "Describe"], "{acl}");
                topics_granted.push(acl["resource"]["name"].as_str().unwrap());
            }
            "cluster" => assert_eq!(ops, ["IdempotentWrite"], "{acl}"),
            other => panic!("appliance granted {other}: {acl}"),
        }
    }
    topics_granted.sort();
    assert_eq!(topics_granted, names);

    let mm2 = of_kind(&docs, "KafkaMirrorMaker2");
    assert_eq!(mm2.len(), 1);
    let mirror = &mm2[0]["spec"]["mirrors"][0];
    assert_eq!(mirror["source"]["authentication"]["type"], "tls");
    let pattern = mirror["topicsPattern"].as_str().unwrap();
    assert_eq!(pattern, "logs\\..*");
}
