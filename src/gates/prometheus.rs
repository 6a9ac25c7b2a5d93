//! A Prometheus gate's measurement: one instant query (`GET /api/v1/query`) and its
//! answer judged against the threshold. The reading of the answer is pure
//! ([`samples`], [`judge`]); only [`query`] does I/O.
//!
//! | answer | measurement |
//! |---|---|
//! | HTTP error, unreachable server, `status: error` | one Fail, saying which |
//! | a vector with samples, or a scalar | one per sample: Pass or Fail by the threshold, Inconclusive for NaN |
//! | an empty vector | one Inconclusive (`no sample`: nothing scraped yet, or no traffic) |
//! | a range vector or a string | one Fail (the query is not an instant number) |

use std::time::Duration;

use serde_json::Value;

use super::http::Http;
use super::record::{Verdict, number};
use super::spec::{PrometheusUrl, Threshold};

/// One sample of the answer: its series (labels as PromQL writes them) and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub series: String,
    pub value: f64,
}

/// Reads the answer of an instant query: the samples, or why it is a failed measurement.
pub fn samples(status: u16, body: &[u8]) -> Result<Vec<Sample>, String> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let api_error = json.as_ref().and_then(|j| {
        (j["status"] == "error").then(|| {
            format!(
                "{}: {}",
                j["errorType"].as_str().unwrap_or("error"),
                j["error"].as_str().unwrap_or("")
            )
        })
    });
    if !(200..300).contains(&status) {
        return Err(match api_error {
            Some(e) => format!("Prometheus answered HTTP {status}: {e}"),
            None => format!("Prometheus answered HTTP {status}"),
        });
    }
    if let Some(e) = api_error {
        return Err(format!("Prometheus refused the query: {e}"));
    }
    let json = json.ok_or("Prometheus answered something other than JSON")?;
    let data = &json["data"];
    match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .ok_or("Prometheus answered a vector without a result list")?
            .iter()
            .map(|s| {
                Ok(Sample {
                    series: series(&s["metric"]),
                    value: value(&s["value"])?,
                })
            })
            .collect(),
        Some("scalar") => Ok(vec![Sample {
            series: "scalar".into(),
            value: value(&data["result"])?,
        }]),
        Some(other) => Err(format!(
            "the query returns a {other}, not an instant vector or scalar"
        )),
        None => Err("Prometheus answered without a resultType".into()),
    }
}

/// `[timestamp, "value"]` as Prometheus writes a sample; Go spells NaN and the
/// infinities `NaN`, `+Inf`, `-Inf`, which Rust reads too.
fn value(pair: &Value) -> Result<f64, String> {
    pair.get(1)
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or_else(|| format!("Prometheus answered a sample without a number: {pair}"))
}

/// `{job="x",pod="y"}` (or `{}` for a series without labels, as an aggregate has).
fn series(metric: &Value) -> String {
    let labels: Vec<String> = metric
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", Value::from(v.as_str().unwrap_or_default())))
                .collect()
        })
        .unwrap_or_default();
    format!("{{{}}}", labels.join(","))
}

/// The measurements of one answer: (target, value, verdict, detail) per sample.
pub fn judge(
    answer: Result<Vec<Sample>, String>,
    threshold: &Threshold,
) -> Vec<(String, Value, Verdict, String)> {
    match answer {
        Err(e) => vec![("query".into(), Value::Null, Verdict::Fail, e)],
        Ok(s) if s.is_empty() => vec![(
            "query".into(),
            Value::Null,
            Verdict::Inconclusive,
            "no sample: nothing scraped yet, or no traffic".into(),
        )],
        Ok(s) => s
            .into_iter()
            .map(|s| {
                let (verdict, detail) = if s.value.is_nan() {
                    (
                        Verdict::Inconclusive,
                        "NaN (no data to divide?)".to_string(),
                    )
                } else if threshold.holds(s.value) {
                    (Verdict::Pass, String::new())
                } else {
                    // The line shows the threshold beside the value: nothing to add.
                    (Verdict::Fail, String::new())
                };
                (s.series, number(s.value), verdict, detail)
            })
            .collect(),
    }
}

/// Runs the instant query `q` at the server now.
pub async fn query(
    http: &Http,
    server: &PrometheusUrl,
    q: &str,
    timeout: Duration,
) -> Result<Vec<Sample>, String> {
    let r = http
        .request(&server.query_url(q), None, timeout)
        .await
        .map_err(|e| format!("cannot query Prometheus at {}: {e}", server.0))?;
    samples(r.status, &r.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Threshold {
        Threshold::parse(s).expect("a threshold")
    }

    #[test]
    fn answers_are_read_as_the_table_says() {
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"version":"v2","pod":"m-1"},"value":[1700000000.1,"0.25"]},
            {"metric":{},"value":[1700000000.1,"NaN"]}]}}"#;
        let got = judge(samples(200, vector), &t("< 0.01"));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, r#"{pod="m-1",version="v2"}"#);
        assert_eq!(got[0].2, Verdict::Fail);
        assert_eq!(got[0].1, Value::from(0.25));
        assert_eq!((got[1].0.as_str(), got[1].2), ("{}", Verdict::Inconclusive));

        let scalar = br#"{"status":"success","data":{"resultType":"scalar","result":[1,"0.001"]}}"#;
        let got = judge(samples(200, scalar), &t("< 0.01"));
        assert_eq!((got[0].0.as_str(), got[0].2), ("scalar", Verdict::Pass));

        let empty = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        let got = judge(samples(200, empty), &t("< 0.01"));
        assert_eq!(got[0].2, Verdict::Inconclusive);

        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        let got = judge(samples(200, matrix), &t("< 0.01"));
        assert_eq!(got[0].2, Verdict::Fail);
        assert!(got[0].3.contains("matrix"), "{}", got[0].3);
    }

    #[test]
    fn an_http_error_is_a_failed_measurement_that_says_which() {
        let bad = br#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}"#;
        let e = samples(400, bad).expect_err("fails");
        assert_eq!(
            e,
            "Prometheus answered HTTP 400: bad_data: 1:5: parse error: unexpected end of input"
        );
        assert_eq!(
            samples(502, b"<html>bad gateway</html>").expect_err("fails"),
            "Prometheus answered HTTP 502"
        );
        let got = judge(Err(e), &t("< 1"));
        assert_eq!(got[0].2, Verdict::Fail);
    }

    #[test]
    fn infinities_are_numbers_and_judged() {
        let inf = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{},"value":[1,"+Inf"]}]}}"#;
        let got = judge(samples(200, inf), &t("< 1"));
        assert_eq!(
            (got[0].1.clone(), got[0].2),
            (Value::from("inf"), Verdict::Fail)
        );
    }

    #[test]
    fn a_body_that_is_not_json_is_a_failed_measurement() {
        assert!(samples(200, b"hello").is_err());
    }
}
