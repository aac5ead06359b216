-- One row per (resource, adapter): the adapter's latest accepted report.
create table adapter_statuses (
    resource_id         uuid not null references resources (id) on delete cascade,
    adapter             text not null,
    observed_generation bigint not null check (observed_generation >= 1),
    conditions          jsonb not null,
    data                jsonb,
    metadata            jsonb,
    -- observed_time of the first accepted report, and of the latest.
    created_time        timestamptz not null,
    last_report_time    timestamptz not null,
    primary key (resource_id, adapter)
);

-- Every accepted report, newest last; trimmed per (resource, adapter) to a configured length.
create table status_history (
    id                  bigint generated always as identity primary key,
    resource_id         uuid not null references resources (id) on delete cascade,
    adapter             text not null,
    observed_generation bigint not null,
    observed_time       timestamptz not null,
    received_time       timestamptz not null default now(),
    conditions          jsonb not null,
    data                jsonb
);

create index status_history_adapter_idx on status_history (resource_id, adapter, id desc);
