// Loads oclif's hook types into the SDK's own build, so that di/registration.ts can augment them
// with `volt:register-drivers` (an augmentation needs its module in the program). Type-only: no
// code is emitted, and @oclif/core stays an optional peer dependency of the SDK.
import type {} from '@oclif/core/lib/interfaces/hooks';
