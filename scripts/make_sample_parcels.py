#!/usr/bin/env python3
"""Writes data/samples/parcels.jsonl: one parcel per screening scenario, built from
data/parcel.example.json. The expected decision of each is asserted in
tests/sample_decisions.rs; the `record_id` says what each one exercises."""
import copy, json

base = json.load(open("data/parcel.example.json"))
records = []

def parcel(record_id, house_bill, **changes):
    record = copy.deepcopy(base)
    record["record_id"] = record_id
    record["house_bill"] = house_bill
    for path, value in changes.items():
        target = record
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[key]
        if value is None:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = value
    records.append(record)
    return record

def shipper(name, lines, city, postal_code, country):
    return {"name": name, "address": {"lines": lines, "city": city, "postal_code": postal_code, "country": country}}

# 1. A clean parcel: released, standard lane.
parcel("S01-CLEAN", "1000000001")
# 2. Consignee spelled as an SDN alias (alt.csv: 12823 "HAMMAMI, Omar Shafik"), given name first.
parcel("S02-WL-ALIAS", "1000000002", consignee__name="Omar Shafik Hammami")
# 3. Shipper with a name close to, but not the same as, an SDN alias (28980 "ABBAS, Sidiki"):
#    held for analyst review.
parcel("S03-WL-POSSIBLE", "1000000003", shipper__name="Abbas Sidiky")
# 4. A verified known shipper: released in the trusted lane.
parcel("S04-KS-VERIFIED", "1000000004", known_shipper_id="KS-ACME-0001",
       origin_country="CN",
       shipper=shipper("Shenzhen Brightway Electronics Co. Ltd", ["88 Keyuan Rd", "Nanshan District"],
                       "Shenzhen", "518057", "CN"))
# 5. Another company's name with that known-shipper id: identity misuse.
parcel("S05-KS-MISMATCH", "1000000005", known_shipper_id="KS-ACME-0001",
       origin_country="CN",
       shipper=shipper("Golden Dragon Novelty Trading Co", ["88 Keyuan Rd", "Nanshan District"],
                       "Shenzhen", "518057", "CN"))
# 6. A suspended known shipper.
parcel("S06-KS-SUSPENDED", "1000000006", known_shipper_id="KS-ACME-0003",
       origin_country="CN",
       shipper=shipper("Ningbo Harbor Homeware Trading Co., Ltd.", ["301 Zhongshan East Road", "Haishu District"],
                       "Ningbo", "315000", "CN"))
# 7. An empty consignee address: parses, but cannot be screened properly.
parcel("S07-DATA-INCOMPLETE", "1000000007", consignee__address__lines=[], consignee__address__city="")
# 8. Declared value above the US de minimis threshold.
r = parcel("S08-VALUE-OVER", "1000000008")
r["declared_value"] = {"amount": 1250.0, "currency": "USD"}
r["items"][0]["value"] = {"amount": 1250.0, "currency": "USD"}
# 9. A restricted commodity by HS code (93: arms and ammunition).
r = parcel("S09-COMMODITY-HS", "1000000009")
r["items"].append({"description": "Airsoft spare parts", "hs_code": "9306.90", "quantity": 1,
                   "value": {"amount": 5.0, "currency": "USD"}})
# 10. A restricted commodity by description keyword.
r = parcel("S10-COMMODITY-KEYWORD", "1000000010")
r["items"][0]["description"] = "Counterfeit designer handbags"
# 11./12. The courier and the marketplace report one parcel and disagree on the consignee:
# the second report is re-screened as version 2 with DATA_INCONSISTENT.
parcel("S11-COURIER", "1000000011")
r = parcel("S12-MARKETPLACE", "1000000011", consignee__name="Janet Dough")
r["source"] = {"filer_type": "marketplace", "filer_id": "MKT-ACME", "sent_at": "2026-03-01T10:05:00Z"}
# 13. The same courier report again: an exact duplicate, no new decision.
parcel("S13-REPLAY", "1000000011")
# 14. A cancellation of parcel 1.
parcel("S14-CANCEL", "1000000001", action="CANCEL")
# 15. A record that fails validation (country code of three letters): rejected.
parcel("S15-INVALID", "1000000015", consignee__address__country="USA")
# 16. Unknown fields are tolerated; a Cyrillic consignee name is transliterated and is clean.
parcel("S16-UNKNOWN-FIELDS", "1000000016", consignee__name="Анна Смирнова", x_courier_extension={"route": "LEJ"})

with open("data/samples/parcels.jsonl", "w") as out:
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
print(f"wrote {len(records)} records")
