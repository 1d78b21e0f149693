/** The in-memory store against the Store contract (store-contract.fixture.ts), as PgStore is. */
import { MemoryStore } from './memory-store.ts';
import { storeContract } from './store-contract.fixture.ts';

storeContract('MemoryStore', () => Promise.resolve(new MemoryStore()));
