import { isGatewayError } from '../errors.ts';
import type { ChosenResult, ReadChoice, Store } from './store.ts';

// stat → get can race a replacement of the object; after this many tries the last answer is served as it is.
const MAX_ATTEMPTS = 3;

/**
 * A conditional or range read (store.ts ReadChoice): with the Store's own getChosen when it has
 * one (one metadata read), else by stat → choose → get, decided again when the object was
 * replaced in between (another etag, or now too short for the range).
 */
export async function readChosen(store: Store, key: string, choose: ReadChoice): Promise<ChosenResult> {
  if (store.getChosen) return store.getChosen(key, choose);
  for (let attempt = 1; ; attempt++) {
    const info = await store.stat(key);
    const choice = choose(info);
    if (choice === null) return { info };
    let result;
    try {
      result = await store.get(key, choice);
    } catch (err) {
      // Replaced by a shorter object between stat and get: decide again on the new one.
      if (isGatewayError(err) && err.code === 'InvalidRange' && attempt < MAX_ATTEMPTS) continue;
      throw err;
    }
    if (result.info.etag !== info.etag && attempt < MAX_ATTEMPTS) {
      result.body.destroy();
      continue;
    }
    return result;
  }
}
