"""Coded vocabularies of the registry, each code with the label the national monitoring
system (全国防返贫监测信息系统) prints in its exports."""

from __future__ import annotations

from enum import StrEnum


class Coded(StrEnum):
    """A code whose value is its name, with a Chinese label for files and pages."""

    @classmethod
    def labels(cls) -> dict[str, str]:
        return LABELS[cls.__name__]

    @classmethod
    def lookup(cls) -> dict[str, Coded]:
        """Every accepted spelling (code or Chinese label) → member."""
        table: dict[str, Coded] = {m.value: m for m in cls}
        for code, label in cls.labels().items():
            for spelling in label.split("|"):
                table[spelling] = cls(code)
        return table

    @property
    def label(self) -> str:
        return self.labels()[self.value].split("|")[0]


class RegionLevel(Coded):
    province = "province"
    city = "city"
    county = "county"
    township = "township"
    village = "village"


class HouseholdType(Coded):
    lifted_out = "lifted_out"
    ordinary = "ordinary"


class MonitoringCategory(Coded):
    unstable_lifted_out = "unstable_lifted_out"
    marginal = "marginal"
    sudden_hardship = "sudden_hardship"


class HouseholdStatus(Coded):
    active = "active"
    cancelled = "cancelled"


class Relation(Coded):
    head = "head"
    spouse = "spouse"
    son = "son"
    daughter = "daughter"
    son_in_law = "son_in_law"
    daughter_in_law = "daughter_in_law"
    grandson = "grandson"
    granddaughter = "granddaughter"
    father = "father"
    mother = "mother"
    sibling = "sibling"
    other = "other"


class Education(Coded):
    preschool = "preschool"
    illiterate = "illiterate"
    primary = "primary"
    junior_secondary = "junior_secondary"
    senior_secondary = "senior_secondary"
    vocational = "vocational"
    tertiary = "tertiary"


class Schooling(Coded):
    not_in_school = "not_in_school"
    preschool = "preschool"
    primary = "primary"
    junior = "junior"
    senior = "senior"
    vocational = "vocational"
    higher = "higher"


class Health(Coded):
    healthy = "healthy"
    chronic = "chronic"
    serious_illness = "serious_illness"
    disabled = "disabled"


class LabourSkill(Coded):
    skilled = "skilled"
    ordinary = "ordinary"
    weak = "weak"
    lost = "lost"
    none = "none"


class MemberStatus(Coded):
    active = "active"
    left = "left"
    deceased = "deceased"


class Sex(Coded):
    male = "male"
    female = "female"


class IncomeSource(Coded):
    survey = "survey"
    report = "report"
    payout = "payout"


class ContractStatus(Coded):
    draft = "draft"
    active = "active"
    closed = "closed"


class InsuredBasis(Coded):
    headcount = "headcount"
    named = "named"


class DocumentType(Coded):
    """What a claim's document is (理赔材料): the terms name those a trigger requires."""

    invoice = "invoice"
    discharge_summary = "discharge_summary"
    medical_record = "medical_record"
    diagnosis_certificate = "diagnosis_certificate"
    disability_certificate = "disability_certificate"
    damage_photos = "damage_photos"
    disaster_certificate = "disaster_certificate"
    accident_report = "accident_report"
    death_certificate = "death_certificate"
    enrolment_certificate = "enrolment_certificate"
    id_card = "id_card"
    household_register = "household_register"
    bank_card = "bank_card"
    survey_form = "survey_form"
    review_minutes = "review_minutes"
    notice_photo = "notice_photo"
    application_form = "application_form"
    other = "other"


class DisasterKind(Coded):
    """The kind of a natural disaster (自然灾害种类), as emergency management classes them: the
    kind of a declared catastrophe (claims.catastrophes)."""

    flood = "flood"
    drought = "drought"
    typhoon = "typhoon"
    hail = "hail"
    frost = "frost"
    snow = "snow"
    earthquake = "earthquake"
    geological = "geological"
    forest_fire = "forest_fire"
    other = "other"


# Alternatives after "|" are other spellings seen in exports; the first is printed.
LABELS: dict[str, dict[str, str]] = {
    "RegionLevel": {
        "province": "省", "city": "市", "county": "县", "township": "乡镇", "village": "村",
    },
    "HouseholdType": {"lifted_out": "脱贫户", "ordinary": "一般户|一般农户"},
    "MonitoringCategory": {
        "unstable_lifted_out": "脱贫不稳定户",
        "marginal": "边缘易致贫户",
        "sudden_hardship": "突发严重困难户",
    },
    "HouseholdStatus": {"active": "正常", "cancelled": "注销"},
    "Relation": {
        "head": "户主", "spouse": "配偶", "son": "之子", "daughter": "之女",
        "son_in_law": "之女婿", "daughter_in_law": "之儿媳", "grandson": "之孙子",
        "granddaughter": "之孙女", "father": "之父", "mother": "之母",
        "sibling": "兄弟姐妹|之兄弟姐妹", "other": "其他",
    },
    "Education": {
        "preschool": "学龄前儿童", "illiterate": "文盲或半文盲", "primary": "小学",
        "junior_secondary": "初中", "senior_secondary": "高中", "vocational": "中专|中职",
        "tertiary": "大专及以上",
    },
    "Schooling": {
        "not_in_school": "非在校生", "preschool": "学前教育", "primary": "小学",
        "junior": "初中", "senior": "高中", "vocational": "中职", "higher": "高职|大专及以上",
    },
    "Health": {
        "healthy": "健康", "chronic": "长期慢性病", "serious_illness": "患有大病",
        "disabled": "残疾",
    },
    "LabourSkill": {
        "skilled": "技能劳动力", "ordinary": "普通劳动力", "weak": "弱劳动力或半劳动力",
        "lost": "丧失劳动力", "none": "无劳动力",
    },
    "MemberStatus": {"active": "在户", "left": "迁出", "deceased": "死亡"},
    "Sex": {"male": "男", "female": "女"},
    "IncomeSource": {"survey": "年度收入调查", "report": "收入报告", "payout": "防贫保险赔付"},
    "ContractStatus": {"draft": "草稿", "active": "生效", "closed": "已结算"},
    "InsuredBasis": {"headcount": "按参保人数", "named": "按名单"},
    "DocumentType": {
        "invoice": "医疗费用发票|发票", "discharge_summary": "出院小结|出院记录",
        "medical_record": "病历", "diagnosis_certificate": "诊断证明",
        "disability_certificate": "残疾证", "damage_photos": "受灾照片|损失照片",
        "disaster_certificate": "受灾证明", "accident_report": "事故认定书|事故证明",
        "death_certificate": "死亡证明", "enrolment_certificate": "录取通知书|入学证明",
        "id_card": "身份证", "household_register": "户口簿", "bank_card": "银行卡|存折",
        "survey_form": "入户调查表", "review_minutes": "民主评议记录",
        "notice_photo": "公示照片", "application_form": "申请书", "other": "其他材料",
    },
    # what the office records as assistance (帮扶措施, risk.monitoring.ASSISTANCE_KINDS): its
    # "employment" had read 因失业, a trigger's name
    "AssistanceKind": {
        "employment": "就业帮扶", "industry": "产业帮扶", "medical_assistance": "医疗救助",
        "education_aid": "教育资助", "further_claim": "再次理赔", "other": "其他帮扶",
    },
    "DisasterKind": {
        "flood": "洪涝", "drought": "干旱", "typhoon": "台风", "hail": "风雹",
        "frost": "低温冷冻", "snow": "雪灾", "earthquake": "地震",
        "geological": "地质灾害|滑坡|泥石流", "forest_fire": "森林草原火灾", "other": "其他",
    },
}
