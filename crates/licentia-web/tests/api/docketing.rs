//! Docketing over HTTP: the last day to act in the calendar feed, and European patents after grant
//! (validations, the Unitary Patent, the forecast per state, lapses). The EUIPO renewal example is
//! `portfolio::the_eutm_renewal_shows_its_window_due_date_grace_and_last_day`.

// Money as major_minor (`1_940_00` is 1,940.00), as in the fee table.
#![allow(clippy::inconsistent_digit_grouping)]

use actix_web::http::StatusCode;
use chrono::{Datelike as _, Months, NaiveDate, Utc, Weekday};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::portfolio::create;

fn of_rule<'a>(asset: &'a Value, rule: &str) -> Vec<&'a Value> {
    asset["deadlines"].as_array().map(|a| a.iter().filter(|d| d["rule"] == rule).collect()).unwrap_or_default()
}

/// The calendar feed says the last day when the office is closed on the due date: a French annuity
/// falling due at the end of a month that ends on a weekend (Art. R. 613-46 and R. 618-3 CPI).
#[actix_web::test]
async fn the_calendar_feed_gives_the_last_day_when_the_office_is_closed() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let today = Utc::now().date_naive();
    // The next month (within the feed's 400 days) whose last day is a Saturday or a Sunday.
    let month_end =
        |d: NaiveDate| NaiveDate::from_ymd_opt(d.year(), d.month(), 1).and_then(|f| f.checked_add_months(Months::new(1))).and_then(|n| n.pred_opt());
    let due = (1..13)
        .filter_map(|k| today.checked_add_months(Months::new(k)).and_then(month_end))
        .find(|d| matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .ok_or("no weekend month end in a year")?;
    let filing = NaiveDate::from_ymd_opt(due.year() - 5, due.month(), 1).ok_or("date")?;
    let last = licentia_domain::ip::calendar::last_day("FR", due);
    assert!(last > due && last.weekday() != Weekday::Sat && last.weekday() != Weekday::Sun);
    create(&app, &m, &json!({ "kind": "patent", "title": "Brevet FR", "jurisdiction": "FR", "filing_date": filing.to_string() })).await?;
    let token = app.send(app.post("/api/v1/me/calendar-token").bearer_auth(&m)).await?.json()["token"].as_str().unwrap_or_default().to_owned();
    let ics = app.send(app.get(&format!("/deadlines.ics?token={token}"))).await?;
    let unfolded = ics.body.replace("\r\n ", "");
    assert!(unfolded.contains(&format!("DTSTART;VALUE=DATE:{}", due.format("%Y%m%d"))), "{unfolded}");
    assert!(unfolded.contains(&format!("DESCRIPTION:FR The office is closed on the due date: last day {last}.")), "{unfolded}");
    Ok(())
}

fn items<'a>(forecast: &'a Value, asset: &str) -> Vec<&'a Value> {
    forecast["assets"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["asset_id"] == asset))
        .and_then(|a| a["items"].as_array())
        .map(|i| i.iter().collect())
        .unwrap_or_default()
}

fn fee_of(items: &[&Value], rule: &str, ordinal: u64) -> Option<(String, i64)> {
    items.iter().find(|i| i["rule"] == rule && i["ordinal"] == ordinal).and_then(|i| Some((i["office"].as_str()?.to_owned(), i["fee"]["standard"].as_i64()?)))
}

/// The case: a European patent filed 15 March 2021, granted (mention of grant) on 12 June
/// 2024, validated in DE, FR and GB, and one with unitary effect (plus GB, outside the unitary
/// territory). The EPO's fees end with year 4; each state's fees from year 5 appear per state, in
/// the state's currency and amount, on the asset and in the forecast; when FR lapses its fees
/// leave both; the family page shows where the patents are in force.
#[actix_web::test]
async fn a_european_patent_validated_in_three_states_and_one_with_unitary_effect() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let base = json!({ "kind": "patent", "jurisdiction": "EP", "status": "granted", "filing_date": "2021-03-15", "grant_date": "2024-06-12" });
    let with = |title: &str, validations: Value| {
        let mut b = base.clone();
        b["title"] = json!(title);
        b["validations"] = validations;
        b
    };
    let national = create(&app, &m, &with("Sparse attention EP", json!(["DE", "FR", "GB"]))).await?;
    let unitary = create(&app, &m, &with("Sparse attention EP (UP)", json!(["UP", "GB"]))).await?;

    let a = app.get_as(&m, &format!("/api/v1/assets/{national}")).await?.json();
    let dues = |rule: &str| {
        of_rule(&a, rule)
            .iter()
            .map(|d| (d["office"].as_str().unwrap_or("").to_owned(), d["ordinal"].as_u64().unwrap_or(0), d["due"].as_str().unwrap_or("").to_owned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(dues("ep-renewal").iter().map(|d| d.1).collect::<Vec<_>>(), vec![3, 4], "the EPO's fees end with the year of grant");
    for (rule, office) in [("de-annual", "DE"), ("fr-annual", "FR"), ("gb-renewal", "GB")] {
        let got = dues(rule);
        assert_eq!(got.first(), Some(&(office.to_owned(), 5, "2025-03-31".to_owned())), "{office}: {a}");
        assert_eq!(got.last(), Some(&(office.to_owned(), 20, "2040-03-31".to_owned())), "{office}");
    }
    let u = app.get_as(&m, &format!("/api/v1/assets/{unitary}")).await?.json();
    assert_eq!(of_rule(&u, "up-request").first().map(|d| d["due"].clone()), Some(json!("2024-07-12")));
    assert_eq!(of_rule(&u, "up-renewal").len(), 16);
    assert!(of_rule(&u, "de-annual").is_empty(), "no national fees where the unitary effect applies");

    // The forecast (30 years, so that year 20 is in it until 2040): each state's fees in its
    // currency, as the fee tables give them (year 20: DPMA €1,940, INPI €800, UKIPO £610, the
    // Unitary Patent €4,855).
    let f = app.get_as(&m, "/api/v1/forecast?years=30").await?;
    assert_eq!(f.status, StatusCode::OK, "{}", f.body);
    let f = f.json();
    let a_items = items(&f, &national);
    assert_eq!(fee_of(&a_items, "de-annual", 20), Some(("DE".into(), 1_940_00)));
    assert_eq!(fee_of(&a_items, "fr-annual", 20), Some(("FR".into(), 800_00)));
    assert_eq!(fee_of(&a_items, "gb-renewal", 20), Some(("GB".into(), 610_00)));
    let offices: std::collections::BTreeSet<&str> = a_items.iter().filter_map(|i| i["office"].as_str()).collect();
    assert_eq!(offices.into_iter().collect::<Vec<_>>(), vec!["DE", "FR", "GB"], "no EPO fee after grant");
    let u_items = items(&f, &unitary);
    assert_eq!(fee_of(&u_items, "up-renewal", 20), Some(("EP".into(), 4_855_00)));
    let sum =
        |items: &[&Value], currency: &str| items.iter().filter(|i| i["fee"]["currency"] == currency).filter_map(|i| i["fee"]["standard"].as_i64()).sum::<i64>();
    let total_eur = f["total"]["EUR"].as_i64().unwrap_or(0);
    assert_eq!(total_eur, sum(&a_items, "EUR") + sum(&u_items, "EUR"));
    assert_eq!(f["total"]["GBP"].as_i64(), Some(sum(&a_items, "GBP") + sum(&u_items, "GBP")));
    let fr_after_lapse: i64 = a_items
        .iter()
        .filter(|i| i["office"] == "FR" && i["due"].as_str().is_some_and(|d| d >= "2027-04-01"))
        .filter_map(|i| i["fee"]["standard"].as_i64())
        .sum();
    assert!(fr_after_lapse > 0);

    // France lapses on 1 April 2027: its later fees leave the asset and the forecast, the others stay.
    let r = app
        .send_json(app.patch(&format!("/api/v1/assets/{national}")).bearer_auth(&m), &json!({ "validations": ["DE", "FR lapsed 2027-04-01", "GB"] }))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let a = app.get_as(&m, &format!("/api/v1/assets/{national}")).await?.json();
    assert_eq!(of_rule(&a, "fr-annual").iter().filter_map(|d| d["due"].as_str()).max(), Some("2027-03-31"));
    assert_eq!(of_rule(&a, "de-annual").len(), 16);
    let f2 = app.get_as(&m, "/api/v1/forecast?years=30").await?.json();
    assert_eq!(f2["total"]["EUR"].as_i64(), Some(total_eur - fr_after_lapse));
    assert!(items(&f2, &national).iter().all(|i| i["office"] != "FR" || i["due"].as_str().is_some_and(|d| d < "2027-04-01")));

    // Where they are in force: the family page's coverage and the asset page.
    let fam = app.get_as(&m, &format!("/api/v1/assets/{unitary}/family")).await?.json();
    for state in ["EP", "GB", "DE", "FR", "IT", "NL"] {
        assert_eq!(fam["coverage"][state], "in_force", "{state}: {fam}");
    }
    assert!(fam["coverage"].get("RO").is_none(), "Romania joined on 1 September 2024, after this grant: {fam}");
    let s = app.browser_login("manager").await?;
    let page = app.send(app.get(&format!("/assets/{national}")).insert_header(("cookie", s.cookie.clone()))).await?;
    assert!(page.body.contains("<td id=\"in-force\"><span class=\"badge\" title=\"national\">DE</span>"), "{}", page.body);
    assert!(page.body.contains("Annual fee, year 20 (DE)"));
    Ok(())
}

/// Validations that cannot be: 422 naming the field, and nothing changes.
#[actix_web::test]
async fn impossible_validations_are_refused() -> TestResult {
    let app = spawn_app().await?;
    let m = app.token("manager").await?;
    let ep = create(&app, &m, &json!({ "kind": "patent", "title": "EP granted", "jurisdiction": "EP", "status": "granted", "filing_date": "2021-03-15", "grant_date": "2024-06-12", "validations": ["DE"] })).await?;
    let refusals = [
        json!({ "validations": ["UP", "DE"] }),
        json!({ "validations": ["XX"] }),
        json!({ "validations": ["DE", "de"] }),
        json!({ "validations": ["FR lapsed 2020-01-01"] }),
        json!({ "validations": ["FR lapsed yesterday"] }),
        json!({ "validations": [{ "state": "FR", "lapsed_on": 12 }] }),
        json!({ "status": "filed", "grant_date": null }),
    ];
    for body in refusals {
        let r = app.send_json(app.patch(&format!("/api/v1/assets/{ep}")).bearer_auth(&m), &body).await?;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.body);
        assert!(["validations", "body"].contains(&r.json()["error"]["field"].as_str().unwrap_or("")), "{body}: {}", r.body);
    }
    let before = app.count("SELECT count(*) FROM ip_assets").await?;
    let us = app
        .send_json(
            app.post("/api/v1/assets").bearer_auth(&m),
            &json!({ "kind": "patent", "title": "US", "jurisdiction": "US", "filing_date": "2020-01-01", "validations": ["DE"] }),
        )
        .await?;
    assert_eq!((us.status, us.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("validations")));
    let got = app.get_as(&m, &format!("/api/v1/assets/{ep}")).await?.json();
    assert_eq!(got["details"]["validations"], json!([{ "state": "DE" }]));
    assert_eq!(app.count("SELECT count(*) FROM ip_assets").await?, before);
    Ok(())
}
