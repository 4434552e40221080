// Production: two instances in different availability zones, a zone-redundant
// PostgreSQL standby, backups copied to the paired region. Values that differ
// per organisation, and every secret, come from environment variables
// (docs/deployment.md, step 4); none is written here.
using '../main.bicep'

param environmentName = 'prod'

param botAppId = readEnvironmentVariable('ICEBOT_BOT_APP_ID')
param botAppPassword = readEnvironmentVariable('ICEBOT_BOT_APP_PASSWORD')
param botAppPasswordExpiresOn = readEnvironmentVariable('ICEBOT_BOT_APP_PASSWORD_EXPIRES_ON')
param botSku = 'S1'
param allowedTenantIds = readEnvironmentVariable('ICEBOT_ALLOWED_TENANT_IDS')

param mailFrom = readEnvironmentVariable('ICEBOT_MAIL_FROM')
param smtpPassword = readEnvironmentVariable('ICEBOT_SMTP_PASSWORD')

// The IG lead's / DPO's decision (docs/clinical-safety.md); 14 is the bot's default.
param retentionDays = 14

// Who may declare an ICE outage to every conversation (Entra object ids; empty: nobody).
param adminAadObjectIds = readEnvironmentVariable('ICEBOT_ADMIN_AAD_OBJECT_IDS', '')

param imageTag = readEnvironmentVariable('ICEBOT_IMAGE_TAG')
param appServicePlanSku = 'P0v3'
param appInstanceCount = 2
param appZoneRedundant = true

param postgresAdminPassword = readEnvironmentVariable('ICEBOT_POSTGRES_ADMIN_PASSWORD')
param postgresSkuName = 'Standard_D2ds_v5'
param postgresSkuTier = 'GeneralPurpose'
param postgresHighAvailability = 'ZoneRedundant'
param postgresGeoRedundantBackup = 'Enabled'
param postgresBackupRetentionDays = 7

param logRetentionDays = 90
