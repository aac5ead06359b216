-- Clusters and node pools share one table: same fields, same rules, one code path.
-- Append-only: never edit a migration that has shipped; add a new one.

create table resources (
    id           uuid primary key,
    kind         text not null check (kind in ('Cluster', 'NodePool')),
    name         text not null,
    -- A node pool's cluster. The FK (which the reference lacks) makes orphans impossible;
    -- hard-deleting a cluster removes its node pools.
    owner_id     uuid references resources (id) on delete cascade,
    spec         jsonb not null check (jsonb_typeof(spec) = 'object'),
    labels       jsonb not null default '{}' check (jsonb_typeof(labels) = 'object'),
    generation   bigint not null default 1 check (generation >= 1),
    phase        text not null default 'Pending',
    phase_time   timestamptz,
    created_time timestamptz not null,
    updated_time timestamptz not null,
    created_by   text not null,
    updated_by   text not null,
    deleted_time timestamptz,
    deleted_by   text,
    check ((kind = 'NodePool') = (owner_id is not null))
);

-- Names are unique among live resources only, so a name can be reused once deletion started.
create unique index resources_root_name_key on resources (kind, name)
    where owner_id is null and deleted_time is null;
create unique index resources_child_name_key on resources (kind, owner_id, name)
    where owner_id is not null and deleted_time is null;

-- The default list order, and keyset-friendly tie-break on id.
create index resources_kind_created_idx on resources (kind, created_time desc, id desc);
create index resources_owner_idx on resources (owner_id, created_time desc) where owner_id is not null;
-- `labels.k='v'` searches become `labels @> '{"k":"v"}'`, served by this index.
create index resources_labels_idx on resources using gin (labels jsonb_path_ops);

-- Aggregated conditions (Reconciled, LastKnownReconciled, <Adapter>Successful), one row per
-- (resource, type), so that `status.conditions.<Type>...` searches are indexed lookups.
create table resource_conditions (
    resource_id          uuid not null references resources (id) on delete cascade,
    type                 text not null,
    status               text not null check (status in ('True', 'False', 'Unknown')),
    reason               text,
    message              text,
    observed_generation  bigint not null,
    created_time         timestamptz not null,
    last_updated_time    timestamptz not null,
    last_transition_time timestamptz not null,
    primary key (resource_id, type)
);

create index resource_conditions_type_status_idx
    on resource_conditions (type, status, last_updated_time);
