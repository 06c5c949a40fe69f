"""Issuance: packages and component schedules, group tickets, capacity, failures -> Error."""

from tests.helpers import DEMO, assert_error, line, order_body, past_day, visit_day


def schedule(*entries):
    return {"componentSchedule": [{"itemNumber": item, "visitDate": day, "visitTime": at} for item, day, at in entries]}


def test_package_gives_one_wallet_per_unit_with_a_ticket_per_component(api):
    order = api.created(order_body(items=[line(item="32001", quantity=2, visit_time="10:00:00")]))
    [item] = order["items"]
    assert item["isPackage"] is True
    assert "componentSchedule" not in item
    assert len(item["wallets"]) == 2
    for wallet in item["wallets"]:
        assert wallet["name"] == "Explorer Package"
        assert [a["itemNumber"] for a in wallet["assets"]] == ["31001", "31010"]
        assert [a["description"] for a in wallet["assets"]] == ["Adult Admission", "Guided Tour"]
        assert (wallet["unitPriceExclVat"], wallet["unitPriceInclVat"]) == (200, 250)


def test_package_component_schedule_is_echoed_and_binds_the_component(api, backend):
    tour_day = visit_day(weekday=3)
    items = [line(item="32001", visit_date=visit_day(weekday=2), wallet=schedule(("31010", tour_day, "13:40:00")))]
    order = api.created(order_body(items=items))
    [item] = order["items"]
    assert item["componentSchedule"] == [{"itemNumber": "31010", "visitDate": tour_day, "visitTime": "13:40:00"}]
    namespace = next(iter(backend.store._orders))[0]
    # the tour binds the slot nearest 13:40 on its own day; the castle ticket the line's day
    assert backend.store.capacity_used(namespace, "TOUR", tour_day, "14:00:00") == 1
    assert backend.store.capacity_used(namespace, "CASTLE", visit_day(weekday=2), "09:00:00") == 1


def test_package_first_schedule_entry_for_a_component_wins(api):
    first, second = visit_day(weekday=3), visit_day(weekday=0)  # the second is a Monday: no tours
    items = [line(item="32001", wallet=schedule(("31010", first, "10:00:00"), ("31010", second, "10:00:00")))]
    assert api.created(order_body(items=items))["status"] == "Issued"


def test_invalid_component_schedule_leaves_the_order_in_error(api):
    monday = visit_day(weekday=0)
    items = [line(item="32001", wallet=schedule(("31010", monday, "10:00:00")))]
    response = api.create(order_body(reference="PKG-ERR", items=items))
    message = f"Admission Code TOUR has no available time slots for expected visit date {monday}."
    assert_error(response, 400, message)
    summary = api.find("PKG-ERR")
    assert (summary["status"], summary["statusMessage"], summary["jobId"]) == ("Error", message, "")
    order = api.get(summary["orderId"]).get_json()
    assert order["status"] == "Error"
    assert order["statusMessage"] == message
    assert order["items"][0]["componentSchedule"][0]["visitDate"] == monday
    assert order["items"][0]["wallets"] == []
    assert "manifestUrl" not in order


def test_group_ticket_is_one_wallet_priced_for_the_group(api, backend):
    day = visit_day()
    order = api.created(
        order_body(items=[line(item="33001", quantity=12, visit_date=day, wallet={"names": ["School"]})])
    )
    [item] = order["items"]
    assert item["quantity"] == 12
    [wallet] = item["wallets"]
    assert wallet["name"] == "School"
    assert (wallet["unitPriceExclVat"], wallet["unitPriceInclVat"]) == (720, 900)
    assert len(wallet["assets"]) == 1
    namespace = next(iter(backend.store._orders))[0]
    assert backend.store.capacity_used(namespace, "CASTLE", day, "09:00:00") == 12


def test_visit_date_in_the_past_fails_issuance(api):
    day = past_day()
    response = api.create(order_body(reference="PAST", items=[line(visit_date=day)]))
    assert_error(response, 400, f"Expected visit date {day} for admission code CASTLE is in the past.")
    assert api.find("PAST")["status"] == "Error"


def test_tour_binds_the_slot_nearest_the_visit_time(api, backend):
    day = visit_day(weekday=4)
    api.created(order_body(items=[line(item="31010", visit_date=day, visit_time="11:59:00")]))
    namespace = next(iter(backend.store._orders))[0]
    assert backend.store.capacity_used(namespace, "TOUR", day, "12:00:00") == 1


def test_capacity_is_consumed_and_exceeding_it_fails(api):
    day = visit_day(weekday=5)
    api.created(
        order_body(reference="T1", items=[line(item="31010", quantity=8, visit_date=day, visit_time="10:00:00")])
    )
    response = api.create(
        order_body(reference="T2", items=[line(item="31010", quantity=3, visit_date=day, visit_time="10:00:00")])
    )
    assert_error(
        response,
        400,
        f"The reservation capacity for TOUR at {day} 10:00:00 has been exceeded. "
        "A maximum of 10 with method SALES is permitted. This action would make it 11.",
    )
    assert api.find("T2")["status"] == "Error"
    # the failed order holds no capacity: two more still fit
    api.created(
        order_body(reference="T3", items=[line(item="31010", quantity=2, visit_date=day, visit_time="10:00:00")])
    )
    # another slot the same day is not affected
    api.created(
        order_body(reference="T4", items=[line(item="31010", quantity=10, visit_date=day, visit_time="12:00:00")])
    )


def test_delete_gives_capacity_back(api):
    day = visit_day(weekday=6)
    order = api.created(
        order_body(reference="D1", items=[line(item="31010", quantity=10, visit_date=day, visit_time="14:00:00")])
    )
    assert (
        api.create(
            order_body(reference="D2", items=[line(item="31010", visit_date=day, visit_time="14:00:00")])
        ).status_code
        == 400
    )
    assert api.delete(order["orderId"]).status_code == 200
    api.created(
        order_body(reference="D2", items=[line(item="31010", quantity=10, visit_date=day, visit_time="14:00:00")])
    )


def test_replace_gives_the_old_capacity_back(api):
    day = visit_day(weekday=2)
    tours = [line(item="31010", quantity=10, visit_date=day, visit_time="10:00:00")]
    order = api.created(order_body(reference="R1", paid=False, items=tours))
    # the replacement may take the same ten places again
    replaced = api.replace(order["orderId"], order_body(reference="R1", paid=False, items=tours))
    assert replaced.status_code == 200
    assert replaced.get_json()["status"] == "Draft"
    assert (
        api.create(
            order_body(reference="R2", items=[line(item="31010", visit_date=day, visit_time="10:00:00")])
        ).status_code
        == 400
    )


def test_group_ticket_larger_than_capacity_fails(api):
    day = visit_day()
    response = api.create(order_body(reference="BIG", items=[line(item="33001", quantity=2001, visit_date=day)]))
    assert_error(
        response,
        400,
        f"The reservation capacity for CASTLE at {day} 09:00:00 has been exceeded. "
        "A maximum of 2000 with method SALES is permitted. This action would make it 2001.",
    )


def test_external_reference_in_use_fails_issuance(api):
    api.created(order_body(reference="E1", items=[line(wallet={"externalReferenceNumbers": ["EXT-1"]})]))
    response = api.create(order_body(reference="E2", items=[line(wallet={"externalReferenceNumbers": ["EXT-1"]})]))
    assert_error(
        response,
        400,
        "The selected external reference is already in use with another wallet. Requested reference: EXT-1",
    )
    assert api.find("E2")["status"] == "Error"


def test_external_reference_repeated_within_an_order_fails(api):
    items = [line(quantity=2, wallet={"externalReferenceNumbers": ["SAME", "SAME"]})]
    response = api.create(order_body(reference="E3", items=items))
    assert_error(
        response,
        400,
        "The selected external reference is already in use with another wallet. Requested reference: SAME",
    )


def test_external_reference_is_free_again_after_delete(api):
    order = api.created(order_body(reference="E4", items=[line(wallet={"externalReferenceNumbers": ["EXT-4"]})]))
    api.delete(order["orderId"])
    api.created(order_body(reference="E5", items=[line(wallet={"externalReferenceNumbers": ["EXT-4"]})]))


def test_replace_of_an_error_order_issues_it(api):
    monday = visit_day(weekday=0)
    api.create(order_body(reference="FIX", items=[line(item="32001", wallet=schedule(("31010", monday, "10:00:00")))]))
    broken = api.find("FIX")
    fixed_day = visit_day(weekday=1)
    body = order_body(reference="FIX", items=[line(item="32001", wallet=schedule(("31010", fixed_day, "10:00:00")))])
    response = api.replace(broken["orderId"], body)
    assert response.status_code == 200
    order = response.get_json()
    assert (order["orderId"], order["status"], order["statusMessage"]) == (broken["orderId"], "Issued", "")
    assert order["receivedAt"] == broken["receivedAt"]
    assert len(order["items"][0]["wallets"]) == 1
    assert order["manifestUrl"]


def test_failed_replace_leaves_error_without_wallets_and_frees_capacity(api):
    day = visit_day(weekday=3)
    tours = [line(item="31010", quantity=10, visit_date=day, visit_time="10:00:00")]
    order = api.created(order_body(reference="FR", paid=False, items=tours))
    past = past_day()
    response = api.replace(order["orderId"], order_body(reference="FR", paid=False, items=[line(visit_date=past)]))
    assert_error(response, 400, f"Expected visit date {past} for admission code CASTLE is in the past.")
    stored = api.get(order["orderId"]).get_json()
    assert stored["status"] == "Error"
    assert stored["items"][0]["wallets"] == []
    api.created(order_body(reference="FR2", items=tours))


def test_ticket_and_wallet_numbers_are_unique_across_orders(api):
    numbers, wallets = set(), set()
    for index in range(20):
        order = api.created(order_body(reference=f"U{index}", items=[line(quantity=5), line(item="33001", quantity=3)]))
        for item in order["items"]:
            for wallet in item["wallets"]:
                wallets.add(wallet["walletReferenceNumber"])
                numbers.update(asset["referenceNumber"] for asset in wallet["assets"])
    assert len(wallets) == 20 * 6
    assert len(numbers) == 20 * 6
    assert len(api.list(DEMO).get_json()) == 20
