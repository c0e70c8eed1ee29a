"""Every Plug & Charge vehicle is a car (0003 gave each one); apart from 0003 so that
PostgreSQL alters the table in a transaction without the data migration's pending checks."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('pki', '0003_vehicle_car'),
    ]

    operations = [
        migrations.AlterField(
            model_name='vehicle',
            name='car',
            field=models.OneToOneField(help_text="the driver's car (V2X permission, minimum charge)", on_delete=django.db.models.deletion.CASCADE, related_name='vehicle', to='stations.car'),
        ),
    ]
