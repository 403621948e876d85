//! Official fees for the deadlines the rules produce: one table per office and renewal year, with
//! the standard fee, the reduced fee (small entity, micro entity or the office's reduction), and
//! the surcharge for paying in the grace period. Amounts are integer minor units of the office's
//! currency, so sums are exact.
//!
//! The figures are the offices' published schedules as recorded here (each row cites it); fee
//! schedules change every year or two, so this table is data to be kept, not a law of nature.
//! Attorney charges are not included: the forecast is of official fees only.

// Amounts are written as major_minor (`2_150_00` is 2,150.00) so they read like the schedules.
#![allow(clippy::inconsistent_digit_grouping)]

use serde::Serialize;

/// An official fee in minor units (cents, pence, yen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Fee {
    pub currency: &'static str,
    pub standard: i64,
    /// The reduced fee where the office has one (small entity, micro entity, CN 85 % reduction).
    pub reduced: Option<i64>,
    /// Added when paid in the grace period; `None` where the schedule's surcharge is not tabled.
    pub surcharge: Option<i64>,
}

/// What the fee depends on besides the year: JPO annuities count claims, trade mark renewals
/// count classes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeeBasis {
    pub claims: u32,
    pub classes: u32,
}

const fn fee(currency: &'static str, standard: i64, reduced: Option<i64>, surcharge: i64) -> Fee {
    Fee { currency, standard, reduced, surcharge: Some(surcharge) }
}

/// The rules with deadlines but no fee in this table, and why: the forecast lists their deadlines
/// as not priced rather than inventing a figure.
pub const UNTABLED: &[(&str, &str)] = &[
    ("es-annual", "OEPM fees are revised every year; the 2026 schedule is not tabled"),
    ("kr-annual", "KIPO annual fees (Patent Fee Collection Rules) are not tabled"),
    ("in-renewal", "Indian renewal fees (First Schedule, Patents Rules 2003) are not tabled"),
    ("ca-maintenance", "CIPO maintenance fees (Patent Rules Schedule 2) are not tabled"),
    ("au-renewal", "IP Australia renewal fees are not tabled"),
    ("br-annual", "INPI annuities (Tabela de Retribuições) are not tabled"),
    ("wo-hague-renewal", "Hague renewal fees depend on the designated parties and are not tabled"),
];

/// The fee of deadline `ordinal` of rule `rule` (the rule ids of [`super::deadlines::RULES`]), or
/// `None` where the deadline has no official fee of its own in this table (national phase
/// entries vary by the states chosen; they are forecast at zero and said to be).
pub fn fee_for(rule: &str, ordinal: u32, basis: FeeBasis) -> Option<Fee> {
    let claims = i64::from(basis.claims);
    let classes = i64::from(basis.classes.max(1));
    match rule {
        // USPTO, 37 CFR 1.20(e)-(g) (fee schedule effective 19 January 2025): 3.5, 7.5 and 11.5
        // years; small entity 40 %, micro entity 20 %; 37 CFR 1.20(h) surcharge in the six-month
        // grace period ($540; small entity $216).
        "us-maintenance" => match ordinal {
            1 => Some(fee("USD", 2_150_00, Some(860_00), 540_00)),
            2 => Some(fee("USD", 4_040_00, Some(1_616_00), 540_00)),
            3 => Some(fee("USD", 8_280_00, Some(3_312_00), 540_00)),
            _ => None,
        },
        // EPO, Rules relating to Fees Art. 2(1) item 4 (schedule of 1 April 2024): renewal fees
        // for the 3rd to the 10th and each subsequent year; Rule 51(2) EPC additional fee 50 %.
        "ep-renewal" => {
            let eur = match ordinal {
                3 => 690_00,
                4 => 845_00,
                5 => 1_000_00,
                6 => 1_175_00,
                7 => 1_350_00,
                8 => 1_525_00,
                9 => 1_700_00,
                n if n >= 10 => 1_905_00,
                _ => return None,
            };
            Some(fee("EUR", eur, None, eur / 2))
        }
        // UK IPO, Patents (Fees) Rules 2007 Sch. 1 (as amended 6 April 2018), as gov.uk "Renew a
        // patent" lists them: £70 for the 5th year rising by £20 to £190 for the 11th, then £220,
        // £260, £300, £360, £420, £470, £520, £570 and £610 for the 20th. "Renew up to 3 months
        // before, or within 1 month after, the due date to avoid late payment fees. You can renew up
        // to 6 months after the due date but you'll have to pay £24 on top of the renewal fee for
        // each extra month": at most five such months, £120 (shown, the maximum).
        "gb-renewal" => {
            let gbp = match ordinal {
                5..=11 => 70_00 + 20_00 * i64::from(ordinal - 5),
                12 => 220_00,
                13 => 260_00,
                14 => 300_00,
                15 => 360_00,
                16 => 420_00,
                17 => 470_00,
                18 => 520_00,
                19 => 570_00,
                20 => 610_00,
                _ => return None,
            };
            Some(fee("GBP", gbp, None, 5 * 24_00))
        }
        // DPMA, PatKostG Annex item 312 030 ff.: annual fees from year 3; late surcharge
        // €50 (item 312 031 ff.).
        "de-annual" => {
            let eur = match ordinal {
                3 | 4 => 70_00,
                5 => 90_00,
                6 => 130_00,
                7 => 180_00,
                8 => 240_00,
                9 => 290_00,
                10 => 350_00,
                11 => 470_00,
                12 => 620_00,
                13 => 760_00,
                14 => 910_00,
                15 => 1_060_00,
                16 => 1_230_00,
                17 => 1_410_00,
                18 => 1_590_00,
                19 => 1_760_00,
                20 => 1_940_00,
                _ => return None,
            };
            Some(fee("EUR", eur, None, 50_00))
        }
        // CNIPA fee schedule (invention patents): annual fees by band; an 85 % reduction for
        // eligible applicants (Measures on Fee Reduction 2016, years 1-10 only); late fee up to
        // 25 % (5 % a month for five months).
        "cn-annual" => {
            let cny = match ordinal {
                1..=3 => 900_00,
                4..=6 => 1_200_00,
                7..=9 => 2_000_00,
                10..=12 => 4_000_00,
                13..=15 => 6_000_00,
                16..=20 => 8_000_00,
                _ => return None,
            };
            let reduced = (ordinal <= 10).then_some(cny * 15 / 100);
            Some(fee("CNY", cny, reduced, cny / 4))
        }
        // CNIPA fee schedule (utility models): annual fees by band for the ten years a utility
        // model lasts; the same 85 % reduction and late fee as for inventions.
        "cn-annual-um" => {
            let cny = match ordinal {
                1..=3 => 600_00,
                4 | 5 => 900_00,
                6..=8 => 1_200_00,
                9 | 10 => 2_000_00,
                _ => return None,
            };
            Some(fee("CNY", cny, Some(cny * 15 / 100), cny / 4))
        }
        // JPO, Patent Act Art. 107(1) (fees for patents filed on or after 1 April 2004): a base
        // amount plus an amount per claim, by band; Art. 112(2): the late payment doubles the fee.
        "jp-annual" => {
            let (base, per_claim) = match ordinal {
                1..=3 => (4_300, 300),
                4..=6 => (10_300, 800),
                7..=9 => (24_800, 1_900),
                10..=25 => (59_400, 4_600),
                _ => return None,
            };
            let jpy = base + per_claim * claims;
            Some(fee("JPY", jpy, None, jpy))
        }
        // USPTO, 37 CFR 2.6(a)(5), (a)(12)(iii) (2025): Section 8 declaration $325 per class,
        // grace period surcharge $100 per class.
        "us-tm-section8" => Some(fee("USD", 325_00 * classes, None, 100_00 * classes)),
        // 37 CFR 2.6(a)(5), (a)(12)(iii): combined Sections 8 and 9 at renewal, $325 + $325 per
        // class; grace surcharge $100 + $100 per class.
        "us-tm-renewal" => Some(fee("USD", 650_00 * classes, None, 200_00 * classes)),
        // EUTMR Annex I A(27)-(29): renewal €850 (e-filing, first class), €50 for the second,
        // €150 for each further class; Art. 53(3) additional fee of 25 % in the grace period.
        "em-renewal" => {
            let eur = 850_00 + if classes >= 2 { 50_00 } else { 0 } + 150_00 * (classes - 2).max(0);
            Some(fee("EUR", eur, None, eur / 4))
        }
        // INPI barème (arrêté du 24 avril 2008 as amended; tarifs au 1er avril 2024): annuities 2 to
        // 5 €38, then €76, 96, 136, 180, 220, 260, 300, 350, 400, 460, 520, 580, 650, 730 and 800
        // for the 20th; late fee 50 % (Art. L. 612-19, INPI "Maintenir son brevet en vigueur").
        "fr-annual" => {
            let eur = match ordinal {
                2..=5 => 38_00,
                6 => 76_00,
                7 => 96_00,
                8 => 136_00,
                9 => 180_00,
                10 => 220_00,
                11 => 260_00,
                12 => 300_00,
                13 => 350_00,
                14 => 400_00,
                15 => 460_00,
                16 => 520_00,
                17 => 580_00,
                18 => 650_00,
                19 => 730_00,
                20 => 800_00,
                _ => return None,
            };
            Some(fee("EUR", eur, None, eur / 2))
        }
        // UIBM, D.M. 2 April 2007 (OJ EPO 2007, 455; EPO National law relating to the EPC, 2024):
        // 5th year €60, then 90, 120, 170, 200, 230, 310, 410, 530, 600 and €650 for each of the
        // 15th to 20th; diritto di mora €100 (Art. 227(4) CPI).
        "it-annual" => {
            let eur = match ordinal {
                5 => 60_00,
                6 => 90_00,
                7 => 120_00,
                8 => 170_00,
                9 => 200_00,
                10 => 230_00,
                11 => 310_00,
                12 => 410_00,
                13 => 530_00,
                14 => 600_00,
                15..=20 => 650_00,
                _ => return None,
            };
            Some(fee("EUR", eur, None, 100_00))
        }
        // IGE, Gebührenverordnung IGE Annex, rates from 1 July 2019 (OJ EPO 2019, A53): CHF 100 for
        // the 4th year, 120, 140, 160, 180, 220, 260, 300, 340, 400, 460, 520, 600, 680, 760, 860
        // and 960 for the 20th; CHF 50 surcharge (Art. 18(3) PatV).
        "ch-annual" => {
            let chf = match ordinal {
                4 => 100_00,
                5 => 120_00,
                6 => 140_00,
                7 => 160_00,
                8 => 180_00,
                9 => 220_00,
                10 => 260_00,
                11 => 300_00,
                12 => 340_00,
                13 => 400_00,
                14 => 460_00,
                15 => 520_00,
                16 => 600_00,
                17 => 680_00,
                18 => 760_00,
                19 => 860_00,
                20 => 960_00,
                _ => return None,
            };
            Some(fee("CHF", chf, None, 50_00))
        }
        // Rules relating to Fees for Unitary Patent Protection (OJ EPO 2022, A42) Art. 2(1) item 1:
        // renewal fees for the 2nd to 20th years; item 2: the additional fee for late payment, 50 %.
        "up-renewal" => {
            const EUR: [i64; 19] = [
                35_00, 105_00, 145_00, 315_00, 475_00, 630_00, 815_00, 990_00, 1_175_00, 1_460_00, 1_775_00, 2_105_00, 2_455_00, 2_830_00, 3_240_00, 3_640_00,
                4_055_00, 4_455_00, 4_855_00,
            ];
            let eur = *EUR.get(usize::try_from(ordinal).ok()?.checked_sub(2)?)?;
            Some(fee("EUR", eur, None, eur / 2))
        }
        // WIPO, Madrid renewal: the basic fee of CHF 653 (Schedule of Fees item 6.1); the
        // supplementary and complementary or individual fees per designated party, and the item
        // 6.5 surcharge, depend on the registration and are not tabled.
        "wo-madrid-renewal" => Some(Fee { currency: "CHF", standard: 653_00, reduced: None, surcharge: None }),
        // Regulation (EC) No 6/2002 Annex, as amended by Regulation (EU) 2024/2822 (fees from
        // 1 May 2025): renewal €150, €250, €400 and €700 for the first to fourth renewals; the
        // additional fee for late renewal, 25 % of the late renewal fee.
        "em-design-renewal" => {
            let eur = match ordinal {
                1 => 150_00,
                2 => 250_00,
                3 => 400_00,
                4 => 700_00,
                _ => return None,
            };
            Some(fee("EUR", eur, None, eur / 4))
        }
        _ => None,
    }
}

/// One deadline with its fee, for forecasts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Cost {
    pub rule: &'static str,
    /// The office it is paid to (for a validated European patent, the national office).
    pub office: String,
    pub ordinal: u32,
    pub title: String,
    pub due: chrono::NaiveDate,
    pub fee: Fee,
}

/// The fees of `deadlines` (those with a fee in the table), in their order.
pub fn costs(deadlines: &[super::deadlines::Deadline], basis: FeeBasis) -> Vec<Cost> {
    deadlines
        .iter()
        .filter_map(|d| {
            fee_for(d.rule, d.ordinal, basis).map(|fee| Cost {
                rule: d.rule,
                office: d.office.clone(),
                ordinal: d.ordinal,
                title: d.title.clone(),
                due: d.due,
                fee,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// gov.uk, "Renew a patent" (UK IPO; Patents (Fees) Rules 2007 Sch. 1 as amended 2018): the
    /// table's 11th, 12th and 20th years are £190, £220 and £610; the late fee is £24 for each
    /// month after the first of the six, so at most £120.
    #[test]
    fn gb_renewal_fees_follow_the_published_table_and_the_late_fee_stops_at_five_months() {
        let gbp = |n| fee_for("gb-renewal", n, FeeBasis::default()).map(|f| (f.standard, f.surcharge.unwrap_or_default()));
        assert_eq!(gbp(5), Some((70_00, 120_00)));
        assert_eq!(gbp(11), Some((190_00, 120_00)));
        assert_eq!(gbp(12), Some((220_00, 120_00)));
        assert_eq!(gbp(15), Some((360_00, 120_00)));
        assert_eq!(gbp(20), Some((610_00, 120_00)));
        assert_eq!(gbp(21), None);
    }

    #[test]
    fn us_maintenance_fees_have_small_entity_and_surcharge_columns() {
        let f = fee_for("us-maintenance", 3, FeeBasis::default());
        assert_eq!(f, Some(Fee { currency: "USD", standard: 828_000, reduced: Some(331_200), surcharge: Some(54_000) }));
        assert_eq!(fee_for("us-maintenance", 4, FeeBasis::default()), None);
    }

    #[test]
    fn ep_renewals_rise_to_year_ten_then_stay_with_a_half_fee_surcharge() {
        let y3 = fee_for("ep-renewal", 3, FeeBasis::default());
        assert_eq!(y3.map(|f| (f.standard, f.surcharge)), Some((69_000, Some(34_500))));
        assert_eq!(fee_for("ep-renewal", 10, FeeBasis::default()), fee_for("ep-renewal", 17, FeeBasis::default()));
        assert_eq!(fee_for("ep-renewal", 2, FeeBasis::default()), None, "no renewal fee before year 3");
    }

    #[test]
    fn jpo_annuities_count_claims_and_trade_mark_renewals_count_classes() {
        // Year 4 with 10 claims: 10,300 + 10 x 800 = 18,300 yen.
        assert_eq!(fee_for("jp-annual", 4, FeeBasis { claims: 10, classes: 0 }).map(|f| f.standard), Some(18_300));
        // EUTM in three classes: 850 + 50 + 150 = 1,050 euro.
        assert_eq!(fee_for("em-renewal", 1, FeeBasis { claims: 0, classes: 3 }).map(|f| f.standard), Some(105_000));
        assert_eq!(fee_for("em-renewal", 1, FeeBasis { claims: 0, classes: 1 }).map(|f| f.standard), Some(85_000));
        assert_eq!(fee_for("us-tm-renewal", 1, FeeBasis { claims: 0, classes: 2 }).map(|f| f.standard), Some(130_000));
    }

    #[test]
    fn cn_reduction_applies_to_the_first_ten_years_only() {
        assert_eq!(fee_for("cn-annual", 10, FeeBasis::default()).and_then(|f| f.reduced), Some(60_000));
        assert_eq!(fee_for("cn-annual", 11, FeeBasis::default()).and_then(|f| f.reduced), None);
    }

    /// Each rule has a fee in the table or is listed as not tabled, with its reason; nothing is in
    /// both, and nothing listed is a rule that does not exist.
    #[test]
    fn every_rule_has_fees_or_says_why_not() {
        let all: Vec<&super::super::deadlines::Rule> = super::super::deadlines::all_rules().collect();
        for rule in all.iter().filter(|r| r.every.is_some() || UNTABLED.iter().any(|(id, _)| *id == r.id)) {
            let tabled = fee_for(rule.id, rule.first_ordinal, FeeBasis { claims: 1, classes: 1 }).is_some();
            let untabled = UNTABLED.iter().any(|(id, _)| *id == rule.id);
            assert!(tabled != untabled, "{}: tabled {tabled}, listed as untabled {untabled}", rule.id);
        }
        for (id, why) in UNTABLED {
            assert!(all.iter().any(|r| r.id == *id) && !why.is_empty(), "{id}");
        }
    }
}
