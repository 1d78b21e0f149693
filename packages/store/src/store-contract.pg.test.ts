/** PgStore against the Store contract (store-contract.fixture.ts), as the in-memory store is. */
import { afterAll, inject } from 'vitest';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName } from '@meridian/testkit';
import { PgStore } from './pg-store.ts';
import { storeContract } from './store-contract.fixture.ts';

const infra = inject('infra');
const db = uniqueName('store_contract');
let store: PgStore | undefined;

storeContract('PgStore', async () => {
  store = await PgStore.open({ connectionString: await createDatabase(db, infra.postgresUrl), poolSize: 3 });
  return store;
});

afterAll(async () => {
  await store?.close();
  await dropDatabase(db, infra.postgresUrl);
});
