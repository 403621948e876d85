//! Deadlines from rules, in the spirit of phpIP's `task_rules`: each rule names its office, the
//! kinds it applies to, the date it counts from, the offset of the first due date, how it recurs,
//! whether due dates fall at the end of the month, when payment opens, the grace period and its
//! surcharge, and the event that ends it. [`compute`] is a pure function of an asset's facts, so a
//! changed grant date moves every deadline and a dead asset has none.

use chrono::{Datelike as _, Months, NaiveDate};
use serde::Serialize;

use super::{AssetKind, AssetStatus};

/// The rule name of deadlines entered by hand.
pub const MANUAL: &str = "manual";

/// The date a rule counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// The filing date; for a divisional, the parent's (its deemed date of filing, Art. 76(1) EPC).
    Filing,
    /// The earliest priority date, else the filing date (PCT time limits).
    Priority,
    /// The grant or registration date.
    Grant,
}

/// A calendar offset: years and months (clamped to the month's end), then days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offset {
    pub months: u32,
}

impl Offset {
    pub const fn years(y: u32) -> Self {
        Self { months: y * 12 }
    }
    pub const fn months(m: u32) -> Self {
        Self { months: m }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum Surcharge {
    None,
    /// A percentage of the fee.
    Percent(u32),
    /// A fixed or scaled amount described in words (the fee table has the figures).
    Described(&'static str),
}

/// When a recurring series stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// After `n` occurrences.
    Count(u32),
    /// While the due date is before the end of the maximum term, counted from filing.
    TermYears(u32),
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub id: &'static str,
    pub office: &'static str,
    pub kinds: &'static [AssetKind],
    pub base: Base,
    pub first: Offset,
    /// Interval between occurrences, if the rule recurs.
    pub every: Option<Offset>,
    pub until: Until,
    /// The first occurrence's ordinal in the title (e.g. renewal fees start at year 3).
    pub first_ordinal: u32,
    pub end_of_month: bool,
    /// Payment opens this long before the due date.
    pub window: Option<Offset>,
    /// For occurrences after the first, where the office opens payment later (EPO: Rule 51(1)).
    pub later_window: Option<Offset>,
    /// For a divisional: fees already due for the parent, or falling due in the first period, may
    /// be paid within this period of filing the divisional, then with the surcharge until the
    /// second (EPO: Rule 51(3)).
    pub divisional_catch_up: Option<(Offset, Offset)>,
    /// Late payment allowed this long after the due date, with a surcharge.
    pub grace: Option<(Offset, Surcharge)>,
    /// The series ends once the right is granted (EP renewal fees move to the national offices).
    pub ends_at_grant: bool,
    /// Applies only once granted.
    pub needs_grant: bool,
    /// Occurrences due before the grant are not listed: they are paid with the grant (CN, GB).
    pub skip_before_grant: bool,
    /// Only for international (PCT) applications.
    pub pct_only: bool,
    pub title: &'static str,
    /// The regulation the rule implements.
    pub source: &'static str,
}

const PATENT: &[AssetKind] = &[AssetKind::Patent];
const UTILITY_MODEL: &[AssetKind] = &[AssetKind::UtilityModel];
const TRADEMARK: &[AssetKind] = &[AssetKind::Trademark];
const PCT: &[AssetKind] = &[AssetKind::Patent, AssetKind::UtilityModel];

/// The rule table. Each entry cites its source beside it.
pub static RULES: &[Rule] = &[
    // 35 U.S.C. 41(b); 37 CFR 1.362(d)-(e): due 3.5, 7.5 and 11.5 years after grant, payable from
    // 6 months before, or in the 6 months after with the surcharge of 37 CFR 1.20(h). Utility
    // patents only: designs and plant patents pay none.
    Rule {
        id: "us-maintenance",
        office: "US",
        kinds: PATENT,
        base: Base::Grant,
        first: Offset::months(42),
        every: Some(Offset::years(4)),
        until: Until::Count(3),
        first_ordinal: 1,
        end_of_month: false,
        window: Some(Offset::months(6)),
        later_window: None,
        divisional_catch_up: None,
        grace: Some((Offset::months(6), Surcharge::Described("37 CFR 1.20(h) surcharge"))),
        ends_at_grant: false,
        skip_before_grant: false,
        needs_grant: true,
        pct_only: false,
        title: "Maintenance fee {n} (3.5/7.5/11.5 years)",
        source: "35 U.S.C. 41(b); 37 CFR 1.362",
    },
    // Art. 86(1) EPC, Rule 51(1)-(2) EPC: renewal fees for the 3rd and each later year, due on the
    // last day of the month containing the anniversary of filing; within six months after with a
    // 50 % additional fee (RFees Art. 2(1) 5). Rule 51(1) as amended by CA/D 13/17 (OJ EPO 2018, A2;
    // in force 1 April 2018): "The renewal fee in respect of the third year may not be validly paid
    // more than six months before it falls due. All other renewal fees may not be validly paid more
    // than three months before they fall due." Due to the EPO until the year the mention of grant is
    // published (Art. 86(2) EPC), then nationally. Rule 51(3) EPC (Guidelines A-IV, 1.4.3): for a
    // divisional, renewal fees already due for the parent fall due when the divisional is filed and
    // may be paid within four months of its filing (a fee falling due for the first time within
    // those four months too), then within six months with the 50 % additional fee.
    Rule {
        id: "ep-renewal",
        office: "EP",
        kinds: PATENT,
        base: Base::Filing,
        first: Offset::years(2),
        every: Some(Offset::years(1)),
        until: Until::TermYears(20),
        first_ordinal: 3,
        end_of_month: true,
        window: Some(Offset::months(6)),
        later_window: Some(Offset::months(3)),
        divisional_catch_up: Some((Offset::months(4), Offset::months(6))),
        grace: Some((Offset::months(6), Surcharge::Percent(50))),
        ends_at_grant: true,
        skip_before_grant: false,
        needs_grant: false,
        pct_only: false,
        title: "Renewal fee, year {n}",
        source: "Art. 86 EPC; Rule 51 EPC",
    },
    // Art. 22(1) and 39(1)(a) PCT: national phase entry 30 months from the (earliest) priority date
    // for most designated offices.
    Rule {
        id: "pct-national-30",
        office: "WO",
        kinds: PCT,
        base: Base::Priority,
        first: Offset::months(30),
        every: None,
        until: Until::Count(1),
        first_ordinal: 1,
        end_of_month: false,
        window: None,
        later_window: None,
        divisional_catch_up: None,
        grace: None,
        ends_at_grant: false,
        skip_before_grant: false,
        needs_grant: false,
        pct_only: true,
        title: "PCT national phase entry (30 months)",
        source: "Art. 22(1), 39(1) PCT",
    },
    // Rule 159(1) EPC: entry into the European phase within 31 months of the priority date.
    Rule {
        id: "pct-ep-31",
        office: "WO",
        kinds: PCT,
        base: Base::Priority,
        first: Offset::months(31),
        every: None,
        until: Until::Count(1),
        first_ordinal: 1,
        end_of_month: false,
        window: None,
        later_window: None,
        divisional_catch_up: None,
        grace: None,
        ends_at_grant: false,
        skip_before_grant: false,
        needs_grant: false,
        pct_only: true,
        title: "PCT regional phase entry at the EPO (31 months)",
        source: "Rule 159(1) EPC",
    },
    // Rule 120 of the Implementing Regulations of the Patent Law of the PRC (2023 revision; Rule
    // 103 before): 30 months from priority, or 32 months with the late-entry fee.
    Rule {
        id: "pct-cn-30",
        office: "WO",
        kinds: PCT,
        base: Base::Priority,
        first: Offset::months(30),
        every: None,
        until: Until::Count(1),
        first_ordinal: 1,
        end_of_month: false,
        window: None,
        later_window: None,
        divisional_catch_up: None,
        grace: Some((Offset::months(2), Surcharge::Described("late national phase entry fee"))),
        ends_at_grant: false,
        skip_before_grant: false,
        needs_grant: false,
        pct_only: true,
        title: "PCT national phase entry in China (30 + 2 months)",
        source: "Rule 120 Implementing Regulations of the Patent Law of the PRC (2023)",
    },
    // Patents Rules 2007 r. 37: the first renewal fee is due at the end of the month of the 4th
    // anniversary of filing, then yearly to year 20; payable from three months before; up to six
    // months late with an additional fee per month.
    Rule {
        id: "gb-renewal",
        office: "GB",
        kinds: PATENT,
        base: Base::Filing,
        first: Offset::years(4),
        every: Some(Offset::years(1)),
        until: Until::TermYears(20),
        first_ordinal: 5,
        end_of_month: true,
        window: Some(Offset::months(3)),
        later_window: None,
        divisional_catch_up: None,
        grace: Some((Offset::months(6), Surcharge::Described("additional fee for each month late"))),
        ends_at_grant: false,
        skip_before_grant: true,
        needs_grant: true,
        pct_only: false,
        title: "Renewal fee, year {n}",
        source: "Patents Act 1977 s. 25; Patents Rules 2007 r. 37",
    },
    // PatKostG § 3(2), § 7(1): annual fees from the 3rd year, due on the last day of the month of
    // the anniversary of filing; the surcharge applies after the end of the second month, payment
    // possible until the end of the sixth month.
    Rule {
        id: "de-annual",
        office: "DE",
        kinds: PATENT,
        base: Base::Filing,
        first: Offset::years(2),
        every: Some(Offset::years(1)),
        until: Until::TermYears(20),
        first_ordinal: 3,
        end_of_month: true,
        window: Some(Offset::years(1)),
        later_window: None,
        divisional_catch_up: None,
        grace: Some((Offset::months(6), Surcharge::Described("EUR 50 after the second month (PatKostG § 7(1))"))),
        ends_at_grant: false,
        skip_before_grant: false,
        needs_grant: false,
        pct_only: false,
        title: "Annual fee, year {n}",
        source: "PatKostG § 3(2), § 7(1)",
    },
    // GebrMG § 23(1)-(2): a utility model lasts ten years from the end of the month of filing and
    // is kept in force by maintenance fees "für das vierte bis sechste, siebte und achte sowie für
    // das neunte und zehnte Jahr", each due at the end of the month of the anniversary of filing
    // that starts its period (PatKostG § 3(2)); payable a year ahead (§ 5(2)); the €50 surcharge
    // after the second month, payment until the end of the sixth (§ 7(1)). No annual fees.
    Rule {
        id: "de-gbm-maintenance",
        office: "DE",
        kinds: UTILITY_MODEL,
        base: Base::Filing,
        first: Offset::years(3),
        every: None,
        until: Until::Count(1),
        first_ordinal: 1,
        end_of_month: true,
        window: Some(Offset::years(1)),
        later_window: None,
        divisional_catch_up: None,
        grace: Some((Offset::months(6), Surcharge::Described("EUR 50 after the second month (PatKostG § 7(1))"))),
        ends_at_grant: false,
        skip_before_grant: false,
        needs_grant: false,
        pct_only: false,
        title: "Utility model maintenance fee, years 4-6",
        source: "GebrMG § 23(2); PatKostG § 3(2), § 7(1)",
    },
    Rule {
        id: "de-gbm-maintenance",
        office: "DE",
        kinds: UTILITY_MODEL,
        base: Base::Filing,
        first: Offset::years(6),
        every: None,
        until: Until::Count(1),
        first_ordinal: 2,
        end_of_month: true,
        window: Some(Offset::years(1)),
        later_window: None,
        divisional_catch_up: None,
        grace: Some((Offset::months(6), Surcharge::Described("EUR 50 after the second month (PatKostG § 7(1))"))),
        ends_at_grant: false,
        skip_before_grant: false,
        needs_grant: false,
        pct_only: false,
        title: "Utility model maintenance fee, years 7-8",
        source: "GebrMG § 23(2); PatKostG § 3(2), § 7(1)",
    },
    Rule {
        id: "de-gbm-maintenance",
        office: "DE",
        kinds: UTILITY_MODEL,
        base: Base::Filing,
        first: Offset::years(8),
        every: None,
        until: Until::Count(1),
        first_ordinal: 3,
        end_of_month: true,
        window: Some(Offset::years(1)),
        later_window: None,
        divisional_catch_up: None,
        grace: Some((Offset::months(6), Surcharge::Described("EUR 50 after the second month (PatKostG § 7(1))"))),
        ends_at_grant: false,
        skip_before_grant: false,
        needs_grant: false,
        pct_only: false,
        title: "Utility model maintenance fee, years 9-10",
        source: "GebrMG § 23(2); PatKostG § 3(2), § 7(1)",
    },
    // Rules 114 and 115 of the Implementing Regulations of the Patent Law of the PRC (2023
    // revision, in force 20 January 2024; Rules 97-98 before): the fee for the year of grant is
    // paid at registration, each later one before the anniversary of filing; six months' grace
    // with 5 % of the year's fee for each month late. Inventions run 20 years, utility models 10
    // (Patent Law Art. 42(1)).
    Rule {
        id: "cn-annual",
        office: "CN",
        kinds: PATENT,
        base: Base::Filing,
        first: Offset::years(1),
        every: Some(Offset::years(1)),
        until: Until::TermYears(20),
        first_ordinal: 2,
        end_of_month: false,
        window: Some(Offset::years(1)),
        later_window: None,
        divisional_catch_up: None,
        grace: Some((Offset::months(6), Surcharge::Described("5 % of the fee per month late"))),
        ends_at_grant: false,
        skip_before_grant: true,
        needs_grant: true,
        pct_only: false,
        title: "Annual fee, year {n}",
        source: "Rules 114-115 Implementing Regulations of the Patent Law of the PRC (2023); Patent Law Art. 42",
    },
    // The same for utility models, which end ten years from filing (Patent Law Art. 42(1)).
    Rule {
        id: "cn-annual-um",
        office: "CN",
        kinds: UTILITY_MODEL,
        base: Base::Filing,
        first: Offset::years(1),
        every: Some(Offset::years(1)),
        until: Until::TermYears(10),
        first_ordinal: 2,
        end_of_month: false,
        window: Some(Offset::years(1)),
        later_window: None,
        divisional_catch_up: None,
        grace: Some((Offset::months(6), Surcharge::Described("5 % of the fee per month late"))),
        ends_at_grant: false,
        skip_before_grant: true,
        needs_grant: true,
        pct_only: false,
        title: "Annual fee, year {n}",
        source: "Rules 114-115 Implementing Regulations of the Patent Law of the PRC (2023); Patent Law Art. 42",
    },
    // Japanese Patent Act Art. 108(2), 112: fees for years 1-3 are paid at registration; from the
    // 4th year each is due before the anniversary of registration; six months' grace with a
    // surcharge equal to the fee.
    Rule {
        id: "jp-annual",
        office: "JP",
        kinds: PATENT,
        base: Base::Grant,
        first: Offset::years(3),
        every: Some(Offset::years(1)),
        until: Until::TermYears(20),
        first_ordinal: 4,
        end_of_month: false,
        window: Some(Offset::years(1)),
        later_window: None,
        divisional_catch_up: None,
        grace: Some((Offset::months(6), Surcharge::Percent(100))),
        ends_at_grant: false,
        skip_before_grant: false,
        needs_grant: true,
        pct_only: false,
        title: "Annual fee, year {n}",
        source: "Patent Act (Japan) Art. 108, 112",
    },
    // 15 U.S.C. § 1058: declaration of use between the 5th and 6th year after registration, or in
    // the six months after with a surcharge.
    Rule {
        id: "us-tm-section8",
        office: "US",
        kinds: TRADEMARK,
        base: Base::Grant,
        first: Offset::years(6),
        every: None,
        until: Until::Count(1),
        first_ordinal: 1,
        end_of_month: false,
        window: Some(Offset::years(1)),
        later_window: None,
        divisional_catch_up: None,
        grace: Some((Offset::months(6), Surcharge::Described("grace period surcharge, 37 CFR 2.6"))),
        ends_at_grant: false,
        skip_before_grant: false,
        needs_grant: true,
        pct_only: false,
        title: "Section 8 declaration of use",
        source: "15 U.S.C. § 1058; 37 CFR 2.160",
    },
    // 15 U.S.C. §§ 1058-1059: combined declaration and renewal every 10 years from registration,
    // within the year before, or six months after with a surcharge.
    Rule {
        id: "us-tm-renewal",
        office: "US",
        kinds: TRADEMARK,
        base: Base::Grant,
        first: Offset::years(10),
        every: Some(Offset::years(10)),
        until: Until::Count(3),
        first_ordinal: 1,
        end_of_month: false,
        window: Some(Offset::years(1)),
        later_window: None,
        divisional_catch_up: None,
        grace: Some((Offset::months(6), Surcharge::Described("grace period surcharge, 37 CFR 2.6"))),
        ends_at_grant: false,
        skip_before_grant: false,
        needs_grant: true,
        pct_only: false,
        title: "Sections 8 and 9 renewal {n}",
        source: "15 U.S.C. §§ 1058-1059; 37 CFR 2.182",
    },
    // Art. 52 EUTMR (Regulation (EU) 2017/1001): registered for 10 years from the date of filing.
    // Art. 53(3): renewal "within a period of six months ending on the day on which the
    // registration expires", or "within a further period of six months following" that day with an
    // additional fee (Annex I A: 25 % of the belated renewal fee). The old Community trade
    // mark rule, due on the last day of the month of expiry (Art. 47(3) CTMR 207/2009), was
    // abolished by Regulation (EU) 2015/2424 from 23 March 2016: no end-of-month rounding.
    Rule {
        id: "em-renewal",
        office: "EM",
        kinds: TRADEMARK,
        base: Base::Filing,
        first: Offset::years(10),
        every: Some(Offset::years(10)),
        until: Until::Count(3),
        first_ordinal: 1,
        end_of_month: false,
        window: Some(Offset::months(6)),
        later_window: None,
        divisional_catch_up: None,
        grace: Some((Offset::months(6), Surcharge::Percent(25))),
        ends_at_grant: false,
        skip_before_grant: false,
        needs_grant: true,
        pct_only: false,
        title: "EU trade mark renewal {n}",
        source: "Art. 52, 53(3) Regulation (EU) 2017/1001 (EUTMR)",
    },
];

/// What the rules need to know about an asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts<'a> {
    pub kind: AssetKind,
    pub office: &'a str,
    pub status: AssetStatus,
    pub filing: Option<NaiveDate>,
    pub priority: Option<NaiveDate>,
    pub grant: Option<NaiveDate>,
    /// For a divisional: the parent's filing date.
    pub parent_filing: Option<NaiveDate>,
    /// An international (PCT) application.
    pub pct: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Deadline {
    pub rule: &'static str,
    pub ordinal: u32,
    pub title: String,
    pub due: NaiveDate,
    /// The last day to act: `due`, or the office's next open day when `due` falls on a day it is
    /// closed (see [`crate::ip::calendar`]).
    pub last_day: NaiveDate,
    pub opens: Option<NaiveDate>,
    pub grace_ends: Option<NaiveDate>,
    /// The same for the end of the grace period.
    pub grace_last_day: Option<NaiveDate>,
    pub surcharge: Surcharge,
    pub source: &'static str,
}

/// Where a deadline stands on a given day: what the lists sort and colour by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Not yet past its last day.
    Open,
    /// Past its last day, inside the grace period (payable with the surcharge).
    InGrace,
    /// Past its last day and any grace period, and nobody marked it: someone must look at it.
    Overdue,
    Done,
    Waived,
    /// Marked missed: known and accepted, no longer waiting for anyone.
    Missed,
}

impl Standing {
    /// How the lists say it.
    pub fn label(self) -> &'static str {
        match self {
            Standing::Open => "open",
            Standing::InGrace => "in grace period",
            Standing::Overdue => "overdue",
            Standing::Done => "done",
            Standing::Waived => "waived",
            Standing::Missed => "missed",
        }
    }

    /// Whether it still waits for someone (open, in grace or overdue).
    pub fn is_pending(self) -> bool {
        matches!(self, Standing::Open | Standing::InGrace | Standing::Overdue)
    }
}

/// The standing of `d` on `today`, given the mark people put on it (`done`, `waived`, `missed`).
pub fn standing(d: &Deadline, mark: Option<&str>, today: NaiveDate) -> Standing {
    match mark {
        Some("done") => Standing::Done,
        Some("waived") => Standing::Waived,
        Some("missed") => Standing::Missed,
        _ if today <= d.last_day => Standing::Open,
        _ if d.grace_last_day.is_some_and(|g| today <= g) => Standing::InGrace,
        _ => Standing::Overdue,
    }
}

fn add(d: NaiveDate, o: Offset) -> Option<NaiveDate> {
    d.checked_add_months(Months::new(o.months))
}

fn sub(d: NaiveDate, o: Offset) -> Option<NaiveDate> {
    d.checked_sub_months(Months::new(o.months))
}

fn end_of_month(d: NaiveDate) -> Option<NaiveDate> {
    let first_next = if d.month() == 12 { NaiveDate::from_ymd_opt(d.year() + 1, 1, 1) } else { NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1) };
    first_next?.pred_opt()
}

/// Every rule-driven deadline of an asset, in date order.
pub fn compute(f: &Facts<'_>) -> Vec<Deadline> {
    if f.status.is_dead() {
        return Vec::new();
    }
    let effective_filing = f.parent_filing.or(f.filing);
    let mut out = Vec::new();
    for rule in RULES.iter().filter(|r| r.office == f.office && r.kinds.contains(&f.kind) && r.pct_only == f.pct) {
        if rule.needs_grant && f.grant.is_none() {
            continue;
        }
        let base = match rule.base {
            Base::Filing => effective_filing,
            Base::Priority => f.priority.or(f.filing),
            Base::Grant => f.grant,
        };
        let Some(base) = base else { continue };
        let term_end = effective_filing.and_then(|fd| match rule.until {
            Until::TermYears(y) => add(fd, Offset::years(y)),
            Until::Count(_) => None,
        });
        let mut n = 0u32;
        loop {
            let offset = Offset { months: rule.first.months + rule.every.map_or(0, |e| e.months) * n };
            let Some(mut due) = add(base, offset) else { break };
            if rule.end_of_month {
                match end_of_month(due) {
                    Some(d) => due = d,
                    None => break,
                }
            }
            let stop = match rule.until {
                Until::Count(c) => n >= c,
                Until::TermYears(_) => term_end.is_some_and(|t| due >= t),
            };
            if stop || (rule.ends_at_grant && f.grant.is_some_and(|g| due > g)) {
                break;
            }
            if rule.skip_before_grant && f.grant.is_some_and(|g| due < g) {
                n += 1;
                continue;
            }
            let window = if n > 0 { rule.later_window.or(rule.window) } else { rule.window };
            let mut opens = window.and_then(|w| sub(due, w)).map(|d| if rule.end_of_month { end_of_month(d).unwrap_or(d) } else { d });
            let mut grace_ends = rule.grace.and_then(|(g, _)| add(due, g)).map(|d| if rule.end_of_month { end_of_month(d).unwrap_or(d) } else { d });
            // A divisional catches up with its parent's fees from its own filing date.
            if let (Some((pay, late)), Some(_), Some(filed)) = (rule.divisional_catch_up, f.parent_filing, f.filing)
                && let (Some(pay_by), Some(late_by)) = (add(filed, pay), add(filed, late))
                && due <= pay_by
            {
                due = pay_by;
                opens = Some(filed);
                grace_ends = Some(late_by);
            }
            let ordinal = rule.first_ordinal + n;
            out.push(Deadline {
                rule: rule.id,
                ordinal,
                title: rule.title.replace("{n}", &ordinal.to_string()),
                due,
                last_day: super::calendar::last_day(f.office, due),
                opens,
                grace_ends,
                grace_last_day: grace_ends.map(|g| super::calendar::last_day(f.office, g)),
                surcharge: rule.grace.map_or(Surcharge::None, |(_, s)| s),
                source: rule.source,
            });
            n += 1;
            if rule.every.is_none() {
                break;
            }
        }
    }
    out.sort_by_key(|d| (d.due, d.rule));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    fn patent(office: &'static str, filing: &str, grant: Option<&str>) -> Facts<'static> {
        Facts {
            kind: AssetKind::Patent,
            office,
            status: if grant.is_some() { AssetStatus::Granted } else { AssetStatus::Filed },
            filing: Some(d(filing)),
            priority: None,
            grant: grant.map(d),
            parent_filing: None,
            pct: false,
        }
    }

    /// Worked example: a US utility patent granted 10 March 2020 (USPTO maintenance fee schedule:
    /// window opens at 3, 7, 11 years; due at 3.5, 7.5, 11.5; surcharge period 6 months).
    #[test]
    fn us_utility_patent_has_three_maintenance_fees_with_windows_and_surcharge_periods() {
        let dl = compute(&patent("US", "2017-08-01", Some("2020-03-10")));
        let got: Vec<_> = dl.iter().map(|x| (x.title.as_str(), x.opens, x.due, x.grace_ends)).collect();
        assert_eq!(
            got,
            vec![
                ("Maintenance fee 1 (3.5/7.5/11.5 years)", Some(d("2023-03-10")), d("2023-09-10"), Some(d("2024-03-10"))),
                ("Maintenance fee 2 (3.5/7.5/11.5 years)", Some(d("2027-03-10")), d("2027-09-10"), Some(d("2028-03-10"))),
                ("Maintenance fee 3 (3.5/7.5/11.5 years)", Some(d("2031-03-10")), d("2031-09-10"), Some(d("2032-03-10"))),
            ]
        );
        // Designs pay no maintenance fees.
        let design = Facts { kind: AssetKind::Design, ..patent("US", "2017-08-01", Some("2020-03-10")) };
        assert!(compute(&design).is_empty());
    }

    /// Worked example: EP application filed 17 May 2021. The 3rd-year fee falls due on the last day
    /// of the month of the 2nd anniversary: 31 May 2023; payable from 30 Nov 2022; with the 50 %
    /// additional fee until 30 Nov 2023.
    #[test]
    fn ep_renewal_fees_start_in_year_three_at_the_end_of_the_month() {
        let dl = compute(&patent("EP", "2021-05-17", None));
        let first = &dl[0];
        assert_eq!((first.title.as_str(), first.due), ("Renewal fee, year 3", d("2023-05-31")));
        assert_eq!((first.opens, first.grace_ends, first.surcharge), (Some(d("2022-11-30")), Some(d("2023-11-30")), Surcharge::Percent(50)));
        assert_eq!(dl[1].due, d("2024-05-31"));
        assert_eq!(dl.last().map(|x| (x.ordinal, x.due)), Some((20, d("2040-05-31"))), "years 3 to 20");
        assert_eq!(dl.len(), 18);
        // Filed 30 January: the anniversary month's end, not the 30th.
        assert_eq!(compute(&patent("EP", "2020-01-30", None))[0].due, d("2022-01-31"));
    }

    /// EPO Guidelines A-X, 5.2.4, first example (Rule 51(1) EPC as amended by CA/D 13/17, OJ EPO
    /// 2018, A2): an application filed on 15.11.2016; the renewal fee for the 3rd year falls due on
    /// 30.11.2018 and may be paid from 31.05.2018 (six months); the fee for the 4th year falls due
    /// on 30.11.2019 and may be paid from 31.08.2019 (three months).
    #[test]
    fn ep_renewal_fees_after_the_third_year_open_three_months_before_they_fall_due() {
        let dl = compute(&patent("EP", "2016-11-15", None));
        let got: Vec<_> = dl.iter().take(2).map(|x| (x.ordinal, x.opens, x.due)).collect();
        assert_eq!(got, vec![(3, Some(d("2018-05-31")), d("2018-11-30")), (4, Some(d("2019-08-31")), d("2019-11-30"))]);
        assert!(dl.iter().skip(1).all(|x| x.opens.is_some_and(|o| o > x.due - chrono::Duration::days(93))), "every later year: three months");
    }

    /// GebrMG § 23(2) (Gebrauchsmustergesetz as in force; DPMA "Gebrauchsmuster: Aufrechterhaltung"):
    /// a utility model is kept in force by maintenance fees for years 4-6, 7-8 and 9-10, each due at
    /// the end of the anniversary month that starts its period (PatKostG § 3(2)), and ends ten years
    /// after the end of the month of filing; it has no annual fees. Filed 29 February 2020: due
    /// 28 February 2023, 28 February 2026 and 29 February 2028, then nothing.
    #[test]
    fn a_german_utility_model_pays_three_maintenance_fees_not_patent_annuities() {
        let gbm = Facts { kind: AssetKind::UtilityModel, ..patent("DE", "2020-02-29", None) };
        let dl = compute(&gbm);
        let got: Vec<_> = dl.iter().map(|x| (x.rule, x.title.as_str(), x.due)).collect();
        assert_eq!(
            got,
            vec![
                ("de-gbm-maintenance", "Utility model maintenance fee, years 4-6", d("2023-02-28")),
                ("de-gbm-maintenance", "Utility model maintenance fee, years 7-8", d("2026-02-28")),
                ("de-gbm-maintenance", "Utility model maintenance fee, years 9-10", d("2028-02-29")),
            ]
        );
        assert_eq!(dl[0].opens, Some(d("2022-02-28")), "payable a year ahead (PatKostG § 5(2))");
        assert!(compute(&patent("DE", "2020-02-29", None)).iter().all(|x| x.rule == "de-annual"), "patents keep their annual fees");
    }

    /// Patent Law of the PRC Art. 42(1): utility models are protected for ten years from filing
    /// (inventions twenty). Filed 2 April 2020, granted 1 June 2021: the fee for year 2 was paid at
    /// registration (Rule 114), so annual fees run for years 3 to 10, the last due 2 April 2029.
    #[test]
    fn a_chinese_utility_model_pays_annual_fees_for_ten_years_only() {
        let um = Facts { kind: AssetKind::UtilityModel, ..patent("CN", "2020-04-02", Some("2021-06-01")) };
        let dl = compute(&um);
        assert_eq!(dl.first().map(|x| (x.rule, x.ordinal, x.due)), Some(("cn-annual-um", 3, d("2022-04-02"))));
        assert_eq!(dl.last().map(|x| (x.ordinal, x.due)), Some((10, d("2029-04-02"))));
        let invention = compute(&patent("CN", "2020-04-02", Some("2021-06-01")));
        assert_eq!(invention.last().map(|x| (x.rule, x.ordinal)), Some(("cn-annual", 20)));
    }

    #[test]
    fn ep_renewals_stop_at_grant_and_move_with_the_grant_date() {
        let granted = compute(&patent("EP", "2021-05-17", Some("2025-02-12")));
        assert_eq!(granted.iter().map(|x| x.ordinal).collect::<Vec<_>>(), vec![3, 4], "years 3 and 4 were due before grant");
        let later = compute(&patent("EP", "2021-05-17", Some("2026-09-01")));
        assert_eq!(later.iter().map(|x| x.ordinal).collect::<Vec<_>>(), vec![3, 4, 5, 6]);
    }

    /// Rule 51(3) EPC (Guidelines A-IV, 1.4.3): a divisional of a parent filed 4 March 2019, itself
    /// filed 10 October 2022. The renewal fees for years 3 and 4, due for the parent on 31 March 2021
    /// and 31 March 2022, fall due on filing the divisional and may be paid until 10 February 2023,
    /// with the additional fee until 10 April 2023; year 5 (31 March 2023) falls due after those
    /// four months and is due as for the parent. The years count from the parent's filing.
    #[test]
    fn a_divisional_pays_its_parent_s_past_renewal_fees_within_four_months_of_its_filing() {
        let div = Facts { parent_filing: Some(d("2019-03-04")), ..patent("EP", "2022-10-10", None) };
        let dl = compute(&div);
        let got: Vec<_> = dl.iter().take(3).map(|x| (x.ordinal, x.opens, x.due, x.grace_ends)).collect();
        assert_eq!(
            got,
            vec![
                (3, Some(d("2022-10-10")), d("2023-02-10"), Some(d("2023-04-10"))),
                (4, Some(d("2022-10-10")), d("2023-02-10"), Some(d("2023-04-10"))),
                (5, Some(d("2022-12-31")), d("2023-03-31"), Some(d("2023-09-30"))),
            ]
        );
        assert_eq!(standing(&dl[0], None, d("2023-01-15")), Standing::Open, "not overdue before the divisional's four months end");
    }

    /// Worked example: PCT application filed 1 Feb 2021 claiming priority of 15 March 2020.
    #[test]
    fn pct_national_phase_is_30_months_and_ep_31_months_from_priority() {
        let pct = Facts { priority: Some(d("2020-03-15")), pct: true, ..patent("WO", "2021-02-01", None) };
        let dl = compute(&pct);
        let by_rule = |id: &str| dl.iter().find(|x| x.rule == id).map(|x| x.due);
        assert_eq!(by_rule("pct-national-30"), Some(d("2022-09-15")));
        assert_eq!(by_rule("pct-ep-31"), Some(d("2022-10-15")));
        assert_eq!(dl.iter().find(|x| x.rule == "pct-cn-30").and_then(|x| x.grace_ends), Some(d("2022-11-15")));
        // Without a priority claim the filing date counts.
        let no_priority = Facts { pct: true, ..patent("WO", "2021-02-01", None) };
        assert_eq!(compute(&no_priority).iter().find(|x| x.rule == "pct-national-30").map(|x| x.due), Some(d("2023-08-01")));
    }

    /// Worked example: a US registration of 4 June 2019.
    #[test]
    fn us_trademark_section_8_and_ten_year_renewals() {
        let tm = Facts { kind: AssetKind::Trademark, status: AssetStatus::Registered, ..patent("US", "2018-01-10", Some("2019-06-04")) };
        let dl = compute(&tm);
        let s8 = dl.iter().find(|x| x.rule == "us-tm-section8").map(|x| (x.opens, x.due, x.grace_ends));
        assert_eq!(s8, Some((Some(d("2024-06-04")), d("2025-06-04"), Some(d("2025-12-04")))));
        let renewals: Vec<_> = dl.iter().filter(|x| x.rule == "us-tm-renewal").map(|x| (x.opens, x.due, x.grace_ends)).collect();
        assert_eq!(renewals[0], (Some(d("2028-06-04")), d("2029-06-04"), Some(d("2029-12-04"))));
        assert_eq!(renewals[1].1, d("2039-06-04"));
    }

    /// Worked example (Art. 52 and 53(3) EUTMR): an EU trade mark filed 15 January 2018 is
    /// registered until 15 January 2028; renewal may be requested from 15 July 2027 up to that day,
    /// and with the 25 % additional fee in the six months following it, until 15 July 2028. No
    /// end-of-month rounding since Regulation (EU) 2015/2424 (the previous test pinned 31 January
    /// and 31 July, sixteen days late).
    #[test]
    fn euipo_renewal_falls_due_on_the_day_the_registration_expires() {
        let tm = Facts { kind: AssetKind::Trademark, status: AssetStatus::Registered, ..patent("EM", "2018-01-15", Some("2018-06-20")) };
        let first = &compute(&tm)[0];
        assert_eq!(
            (first.opens, first.due, first.grace_ends, first.surcharge),
            (Some(d("2027-07-15")), d("2028-01-15"), Some(d("2028-07-15")), Surcharge::Percent(25))
        );
        let renewals: Vec<NaiveDate> = compute(&tm).iter().filter(|x| x.rule == "em-renewal").map(|x| x.due).collect();
        assert_eq!(renewals.get(1), Some(&d("2038-01-15")), "every ten years on the filing day");
        // 15 January 2028 is a Saturday, when the EUIPO is closed: the last day to renew is Monday
        // 17 January; the grace period's end, Saturday 15 July 2028, likewise runs to Monday 17 July.
        assert_eq!((first.last_day, first.grace_last_day), (d("2028-01-17"), Some(d("2028-07-17"))));
    }

    #[test]
    fn a_deadline_is_open_then_in_grace_then_overdue_until_marked() {
        let us = compute(&patent("US", "2017-08-01", Some("2020-03-10")));
        let fee = &us[0];
        // Due Sunday 10 Sep 2023, last day Monday 11 Sep, surcharge period to 10 Mar 2024.
        assert_eq!(standing(fee, None, d("2023-09-11")), Standing::Open);
        assert_eq!(standing(fee, None, d("2023-09-12")), Standing::InGrace);
        assert_eq!(standing(fee, None, d("2024-03-12")), Standing::Overdue);
        assert_eq!(standing(fee, Some("done"), d("2024-03-12")), Standing::Done);
        assert_eq!(standing(fee, Some("missed"), d("2024-03-12")), Standing::Missed);
        assert!(!Standing::Missed.is_pending() && Standing::Overdue.is_pending());
    }

    /// 35 U.S.C. 21(b): a US maintenance fee whose no-surcharge period ends on a weekend or a federal
    /// holiday is payable on the next business day; the legal due date stays as it is.
    #[test]
    fn us_maintenance_fees_keep_their_due_date_and_gain_the_last_day() {
        // Granted Tuesday 10 March 2020: the 3.5-year fee is due 10 September 2023, a Sunday.
        let us = compute(&patent("US", "2017-08-01", Some("2020-03-10")));
        assert_eq!((us[0].due, us[0].last_day), (d("2023-09-10"), d("2023-09-11")));
        assert!(us.iter().all(|x| x.last_day >= x.due && !super::super::calendar::is_closed("US", x.last_day)));
    }

    #[test]
    fn abandoning_cancels_every_deadline() {
        let mut f = patent("US", "2017-08-01", Some("2020-03-10"));
        assert_eq!(compute(&f).len(), 3);
        f.status = AssetStatus::Abandoned;
        assert!(compute(&f).is_empty());
        f.status = AssetStatus::Lapsed;
        assert!(compute(&f).is_empty());
    }

    #[test]
    fn gb_de_cn_jp_annuities() {
        let gb = compute(&patent("GB", "2019-07-15", Some("2022-01-05")));
        assert_eq!((gb[0].title.as_str(), gb[0].due, gb[0].opens), ("Renewal fee, year 5", d("2023-07-31"), Some(d("2023-04-30"))));
        let de = compute(&patent("DE", "2020-02-29", None));
        assert_eq!((de[0].ordinal, de[0].due), (3, d("2022-02-28")), "29 February clamps, then month end");
        let cn = compute(&patent("CN", "2018-04-02", Some("2021-09-01")));
        assert!(cn.iter().all(|x| x.due.day() == 2 && x.due.month() == 4));
        assert_eq!(cn[0].due, d("2022-04-02"), "fees up to the grant are paid with it");
        assert_eq!(cn.last().map(|x| x.due), Some(d("2037-04-02")));
        let jp = compute(&patent("JP", "2016-11-20", Some("2020-05-08")));
        assert_eq!((jp[0].ordinal, jp[0].due, jp[0].surcharge), (4, d("2023-05-08"), Surcharge::Percent(100)));
        assert!(jp.iter().all(|x| x.due < d("2036-11-20")), "ends with the 20-year term");
    }

    #[test]
    fn every_rule_cites_its_source() {
        for r in RULES {
            assert!(!r.source.is_empty() && !r.title.is_empty(), "{}", r.id);
        }
    }
}
