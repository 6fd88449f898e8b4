//! The library API's parts that need no plugin run: the embedded data is the checkout's, setup
//! errors come back as errors before any namespace is made, and the case lookup by
//! requirement. Certifying through the API is tested by `examples/vendor-plugin`'s tests.

use std::path::Path;

use harness::data::CaseData;
use harness::{Certification, Error};

#[test]
fn embedded_data_is_the_checkouts() {
    let embedded = CaseData::embedded().expect("embedded data");
    let disk = CaseData::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance-cases"))
        .expect("conformance-cases");
    assert_eq!(embedded.catalogue, disk.catalogue);
    let ids = |d: &CaseData| d.cases.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&embedded), ids(&disk));
    assert_eq!(embedded.uncovered, disk.uncovered);
    assert!(embedded.cases.len() > 50, "{} cases", embedded.cases.len());
}

#[test]
fn setup_errors_are_errors_not_reports() {
    let missing = Certification::new("/nonexistent/plugin")
        .config_json(serde_json::json!({"cniVersion": "1.0.0", "name": "n", "type": "plugin"}))
        .prepare();
    assert!(
        matches!(missing, Err(Error::Setup(_))),
        "{:?}",
        missing.map(|_| ())
    );
    let no_config = Certification::new("/bin/true").prepare();
    let err = no_config.map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("no base config given"), "{err}");
}

#[test]
fn cases_citing_a_requirement() {
    let del6 = harness::testing::cases_citing("DEL-6").unwrap();
    assert!(del6.contains(&"del-idempotent".to_string()), "{del6:?}");
    assert!(harness::testing::cases_citing("NO-SUCH-ID")
        .unwrap()
        .is_empty());
}
