-- The change feed: one row per write that changes what a Sentinel decides on, appended in the
-- writing transaction by triggers (so no write path can forget it, cascades included): a
-- resource created, its spec or labels changed (a new generation), its deletion started, its
-- row removed, and an adapter report that changes a condition's status or reason or reports a
-- new generation. A report that changes nothing appends nothing.
--
-- Order: a sequence alone cannot order a feed that concurrent transactions write (one that took
-- a lower number may commit after a reader passed a higher one, and be missed). Each row keeps
-- its writing transaction's id; a reader takes only rows of transactions older than its
-- snapshot's xmin (all of them finished, so nothing can appear before them later), in
-- (txid, seq) order: exactly once, whatever the commit order.
--
-- Rows older than the retention are pruned, and `resource_changes_pruned` says how far, so a
-- reader behind that point is told to resync (list again) instead of missing changes.
create table resource_changes (
    txid        bigint not null default (pg_current_xact_id()::text::bigint),
    seq         bigint generated always as identity,
    resource_id uuid not null,
    kind        text not null,
    owner_id    uuid,
    generation  bigint not null,
    change      text not null check (change in ('created', 'updated', 'deleting', 'deleted', 'reported')),
    adapter     text,
    at          timestamptz not null default now(),
    primary key (txid, seq)
);
create index resource_changes_at_idx on resource_changes (at);

create table resource_changes_pruned (
    only_row boolean primary key default true check (only_row),
    txid     bigint not null,
    seq      bigint not null
);
insert into resource_changes_pruned (txid, seq) values (0, 0);

create function record_resource_change() returns trigger language plpgsql as $$
declare
    what text;
    row_ resources%rowtype;
begin
    if tg_op = 'INSERT' then
        what := 'created'; row_ := new;
    elsif tg_op = 'DELETE' then
        what := 'deleted'; row_ := old;
    elsif new.deleted_time is not null and old.deleted_time is null then
        what := 'deleting'; row_ := new;
    elsif new.generation <> old.generation then
        what := 'updated'; row_ := new;
    else
        return new;
    end if;
    insert into resource_changes (resource_id, kind, owner_id, generation, change)
        values (row_.id, row_.kind, row_.owner_id, row_.generation, what);
    -- Wakes the feed's readers at commit (one notification per transaction and payload).
    perform pg_notify('hyperfleet_changes', '');
    return null;
end $$;

create trigger resources_record_changes after insert or update or delete on resources
    for each row execute function record_resource_change();

-- The (type, status, reason) of every condition of a report, in a comparable form.
create function condition_states(conditions jsonb) returns jsonb language sql immutable as $$
    select coalesce(jsonb_agg(jsonb_build_array(c ->> 'type', c ->> 'status', c ->> 'reason')
                              order by c ->> 'type'), '[]'::jsonb)
      from jsonb_array_elements(conditions) c
$$;

create function record_report_change() returns trigger language plpgsql as $$
begin
    if tg_op = 'UPDATE' and new.observed_generation = old.observed_generation
       and condition_states(new.conditions) = condition_states(old.conditions) then
        return null;
    end if;
    insert into resource_changes (resource_id, kind, owner_id, generation, change, adapter)
        select r.id, r.kind, r.owner_id, r.generation, 'reported', new.adapter
          from resources r where r.id = new.resource_id;
    perform pg_notify('hyperfleet_changes', '');
    return null;
end $$;

create trigger adapter_statuses_record_changes after insert or update on adapter_statuses
    for each row execute function record_report_change();
